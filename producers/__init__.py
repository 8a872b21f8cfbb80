"""Typed publishing of commands and events to Kafka: topic names, keys, the idempotent producer."""

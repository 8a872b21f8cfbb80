"""The event store: one contract (``base``), an in-memory backend and a Cassandra backend."""

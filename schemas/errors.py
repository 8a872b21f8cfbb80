"""The error hierarchy of the event model; every error carries the offending value."""

from __future__ import annotations

from typing import Any


class SchemaError(Exception):
    """Base of every error raised by ``schemas``."""


class DecodeError(SchemaError):
    """Bytes that are not a single-object-encoded record of a known schema."""

    def __init__(self, reason: str, data: bytes) -> None:
        super().__init__(f"{reason} (first bytes {data[:16].hex()})")
        self.reason = reason
        self.data = data


class UnknownFingerprint(DecodeError):
    """The fingerprint in the header names no schema in the shipped registry."""

    def __init__(self, fingerprint: bytes, data: bytes) -> None:
        super().__init__(f"unknown schema fingerprint {fingerprint.hex()}", data)
        self.fingerprint = fingerprint


class UnknownRecord(SchemaError):
    """A record type (class or schema name) the registry does not know."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown record type {name!r}")
        self.name = name


class IncompatibleSchema(SchemaError):
    """Two versions of a record that cannot read each other's data."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"{name}: " + "; ".join(problems))
        self.name = name
        self.problems = problems


class IllegalTransition(SchemaError):
    """A command that the current state of its aggregate does not allow."""

    def __init__(self, state: Any, command: Any) -> None:
        status = getattr(state, "status", state)
        super().__init__(f"{type(command).__name__} is not allowed in state {status}")
        self.state = state
        self.command = command


class UnknownEvent(SchemaError):
    """An event that a fold does not know how to apply (or that does not apply in the state)."""

    def __init__(self, state: Any, event: Any) -> None:
        status = getattr(state, "status", state)
        super().__init__(f"{type(event).__name__} cannot be applied in state {status}")
        self.state = state
        self.event = event

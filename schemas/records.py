"""The envelope every command, event and result carries, and the stamping of decided events.

Records are frozen, keyword-only dataclasses: the envelope fields come first, the payload fields
of the concrete record after them. ``type`` is not a field: it is the class name, written into the
Avro record by the codec and checked on the way back.

Deliberate choice: ``decide`` stays pure by deriving everything an event needs from its command.
An event's ``event_id`` is a UUIDv5 of the command id and the event's index, so a redelivered
command decides the very same events (same ids), and ``occurred_at`` is the command's time.
Commands are not part of a stream: their ``seq`` is 0 and ``stream_id`` names the aggregate they
address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

_EVENT_NAMESPACE = uuid.UUID("6f1c1d9e-3a52-4c36-9a77-0e9b7f3b2a10")


@dataclass(frozen=True, kw_only=True, slots=True)
class Record:
    """The common envelope (DESIGN.md, Topics and keys)."""

    event_id: str
    stream_id: str
    seq: int
    occurred_at: datetime
    causation_id: str | None = None
    actor: str

    @property
    def type(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, kw_only=True, slots=True)
class Command(Record):
    """An instruction in the imperative; ``seq`` is 0."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Event(Record):
    """A fact in the past tense, at position ``seq`` (contiguous from 1) of ``stream_id``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Result(Record):
    """An answer to a request (inference); a one-event stream keyed by the request id."""


C = TypeVar("C", bound=Command)
E = TypeVar("E", bound=Event)


def utc_now() -> datetime:
    """The current time, in UTC, at the microsecond resolution Avro's timestamp-micros keeps."""
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def command(cls: type[C], stream_id: str, actor: str, **payload: Any) -> C:
    """Build a command with a fresh id and the current time (the edge of the system calls this)."""
    return cls(
        event_id=new_id(),
        stream_id=stream_id,
        seq=0,
        occurred_at=utc_now(),
        actor=actor,
        **payload,
    )


def stamp(cmd: Command, version: int, decided: list[tuple[type[E], dict[str, Any]]]) -> list[E]:
    """Turn decided ``(event class, payload)`` pairs into events following stream ``version``."""
    return [
        cls(
            event_id=str(uuid.uuid5(_EVENT_NAMESPACE, f"{cmd.event_id}:{index}")),
            stream_id=cmd.stream_id,
            seq=version + 1 + index,
            occurred_at=cmd.occurred_at,
            causation_id=cmd.event_id,
            actor=cmd.actor,
            **payload,
        )
        for index, (cls, payload) in enumerate(decided)
    ]

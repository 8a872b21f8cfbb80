"""The Kafka edge of the workers: decode a consumed message into a record, or call it poison."""

from __future__ import annotations

from dataclasses import dataclass

from consumers.errors import Poison
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.records import Command
from streams.deadletter import Message


@dataclass(frozen=True)
class Delivery(Message):
    """A consumed message with its Kafka headers (the batcher reads its options there)."""

    headers: tuple[tuple[str, bytes], ...] = ()


def decode_command(codec: Codec, message: Message, allowed: tuple[type[Command], ...]) -> Command:
    """The command in ``message``; ``Poison`` for bytes that are not one of ``allowed``."""
    if message.value is None:
        raise Poison("EmptyMessage", "a message without a value")
    try:
        record = codec.decode(message.value)
    except DecodeError as exc:
        raise Poison(type(exc).__name__, exc.reason, message.value[:16]) from exc
    if not isinstance(record, allowed):
        names = ", ".join(c.__name__ for c in allowed)
        raise Poison("UnexpectedRecord", f"{record.type} is not one of {names}", record.type)
    return record

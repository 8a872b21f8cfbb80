"""What a partition may commit: every offset below the first message still in flight.

A training job runs for minutes while the loop goes on reading its control commands from the
same partition; committing those later offsets would commit past the job's ``StartTraining``
too. So the committable position of a partition is the lowest in-flight offset, or one past the
highest finished one when nothing is in flight. Pure bookkeeping, no Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Partition:
    in_flight: set[int] = field(default_factory=set)
    highest_done: int = -1
    committed: int = -1


class OffsetTracker:
    def __init__(self) -> None:
        self._parts: dict[object, _Partition] = {}

    def begin(self, tp: object, offset: int) -> None:
        self._parts.setdefault(tp, _Partition()).in_flight.add(offset)

    def done(self, tp: object, offset: int) -> None:
        part = self._parts.get(tp)
        if part is None:  # the partition was revoked meanwhile: its new owner redoes the message
            return
        part.in_flight.discard(offset)
        part.highest_done = max(part.highest_done, offset)

    def position(self, tp: object) -> int | None:
        """The offset to commit for ``tp`` (the next one to read), or None if nothing is done."""
        part = self._parts.get(tp)
        if part is None:
            return None
        if part.in_flight:
            return min(part.in_flight)
        return part.highest_done + 1 if part.highest_done >= 0 else None

    def pending(self) -> dict[object, int]:
        """Positions that moved since the last ``committed`` call."""
        moved = {}
        for tp, part in self._parts.items():
            pos = self.position(tp)
            if pos is not None and pos > part.committed:
                moved[tp] = pos
        return moved

    def committed(self, positions: dict[object, int]) -> None:
        for tp, pos in positions.items():
            if tp in self._parts:
                self._parts[tp].committed = pos

    def in_flight(self, tp: object) -> int:
        part = self._parts.get(tp)
        return len(part.in_flight) if part else 0

    def forget(self, tp: object) -> None:
        self._parts.pop(tp, None)

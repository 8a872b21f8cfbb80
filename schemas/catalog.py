"""Every record type of the platform, and the fold each event stream belongs to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas import inference, jobs, models, states
from schemas.errors import UnknownRecord
from schemas.records import Command, Event, Record, Result

COMMANDS: tuple[type[Command], ...] = (
    *jobs.COMMANDS, *models.COMMANDS, *states.COMMANDS, *inference.COMMANDS,
)  # fmt: skip
EVENTS: tuple[type[Event], ...] = (*jobs.EVENTS, *models.EVENTS, *states.EVENTS)
RESULTS: tuple[type[Result], ...] = inference.RESULTS
RECORDS: tuple[type[Record], ...] = (*COMMANDS, *EVENTS, *RESULTS)

_BY_NAME: dict[str, type[Record]] = {cls.__name__: cls for cls in RECORDS}


def record_class(name: str) -> type[Record]:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownRecord(name) from None


@dataclass(frozen=True)
class Aggregate:
    """A kind of event stream: its events, its empty state and its fold."""

    kind: str
    events: tuple[type[Event], ...]
    initial: Callable[[], Any]
    evolve: Callable[[Any, Event], Any]
    decide: Callable[[Any, Command], list[Event]]
    owner_field: str


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("job", jobs.EVENTS, jobs.JobState, jobs.evolve, jobs.decide, "owner"),
    Aggregate("model", models.EVENTS, models.ModelState, models.evolve, models.decide, "owner"),
    Aggregate("state", states.EVENTS, states.QraftState, states.evolve, states.decide, "owner"),
)
_AGGREGATE_OF: dict[type[Event], Aggregate] = {
    event: aggregate for aggregate in AGGREGATES for event in aggregate.events
}


def aggregate_of(event: Event | type[Event]) -> Aggregate:
    """The aggregate whose stream ``event`` belongs to (``UnknownRecord`` for other records)."""
    cls = event if isinstance(event, type) else type(event)
    try:
        return _AGGREGATE_OF[cls]
    except KeyError:
        raise UnknownRecord(cls.__name__) from None


def aggregate_named(kind: str) -> Aggregate:
    for aggregate in AGGREGATES:
        if aggregate.kind == kind:
            return aggregate
    raise UnknownRecord(kind)

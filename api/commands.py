"""Writing a command: publish it and answer ``202`` only after Kafka acknowledged it.

The route has validated and authorized; ``accept`` publishes through the process's one publisher
(``acks=all``, idempotent) and builds the ``202`` with the id and a ``Location`` to poll. A broker
that does not acknowledge within ``kafka_timeout_s`` is a ``503`` with ``Retry-After``: nothing is
promised that Kafka does not hold.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from api.errors import ServiceUnavailable
from api.resources import Resources
from producers.errors import BrokerUnavailable
from schemas.records import Command


async def publish(resources: Resources, record: Command) -> None:
    """Publish ``record`` and wait for the broker's acknowledgement (503 past the bound)."""
    publisher = await resources.publisher()
    try:
        await publisher.publish(record)
    except BrokerUnavailable as exc:
        raise ServiceUnavailable("kafka", exc.reason) from exc


async def accept(
    resources: Resources, record: Command, location: str, body: dict[str, Any] | None = None
) -> JSONResponse:
    """Publish ``record``, then ``202 Accepted`` naming the command and where to look."""
    await publish(resources, record)
    content = {
        "id": record.stream_id,
        "command_id": record.event_id,
        "status": "accepted",
        "location": location,
        **(body or {}),
    }
    return JSONResponse(content, status_code=202, headers={"Location": location})

"""The model handler: model commands (``qllm.commands.models``, key model id) → model events.

``RegisterModel``, ``RetireModel``, ``UpdateModel`` and ``ConfigureModelExtension`` come from the
API; each decides against the model stream folded from the event store (``schemas.models``), is
appended there and published on ``qllm.events.models`` by the journal, and only then does the
loop commit the message.

Deliberate choices:
- A redelivered command is recognised by its events' ``causation_id`` in the stream: they are
  published again, nothing is decided twice.
- The model stream has more than one writer (training workers record training starts and
  checkpoints on it), so a conflicting append reloads the stream and decides again, a few times;
  the decision may then differ (a model that started training cannot be retired any more).
- A command the model's state refuses (``IllegalTransition``: registering an existing model,
  retiring one that trains or is gone) and a message that is not one of the four commands are
  dead-lettered with the reason; the loop goes on. Commands the workers decide among themselves
  (``BeginModelTraining`` …) are not accepted from the topic.
"""

from __future__ import annotations

import logging

from aiokafka import TopicPartition

from consumers.errors import Poison, StreamFenced
from consumers.journal import Journal
from consumers.loop import Pending
from consumers.wire import decode_command
from schemas.catalog import aggregate_named
from schemas.codec import Codec
from schemas.errors import IllegalTransition
from schemas.models import ConfigureModelExtension, RegisterModel, RetireModel, UpdateModel
from streams.deadletter import Message

log = logging.getLogger("consumers.models")
ACCEPTED = (RegisterModel, RetireModel, UpdateModel, ConfigureModelExtension)
MODEL = aggregate_named("model")
ATTEMPTS = 4


class ModelHandler:
    def __init__(self, journal: Journal, codec: Codec) -> None:
        self._journal, self._codec = journal, codec
        self.decided = 0

    async def handle(self, message: Message) -> Pending | None:
        cmd = decode_command(self._codec, message, ACCEPTED)
        for attempt in range(ATTEMPTS):
            folded = await self._journal.load(cmd.stream_id, MODEL)
            done = folded.caused_by(cmd.event_id)
            if done:
                await self._journal.republish(done)  # a redelivery: the facts are stored
                return None
            try:
                await self._journal.execute(folded, MODEL, cmd)
            except IllegalTransition as exc:
                raise Poison("IllegalTransition", str(exc), folded.state.status) from exc
            except StreamFenced:
                log.info("model %s moved under us (attempt %d)", cmd.stream_id, attempt + 1)
                continue
            self.decided += 1
            return None
        raise Poison("StreamContended", f"model {cmd.stream_id} kept changing", cmd.stream_id)

    async def release(self, partitions: set[TopicPartition]) -> None:
        return None  # nothing runs across messages

    async def close(self) -> None:
        return None

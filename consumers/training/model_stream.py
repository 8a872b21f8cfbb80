"""The training worker's part of a model's stream: ``ModelTrainingStarted`` when a job begins,
``ModelCheckpointPublished`` when it succeeds, ``ModelTrainingAbandoned`` when it fails or is
cancelled (``schemas.models`` decides them).

Deliberate choices:
- A job naming a model id that was never registered registers it (owner and preset of the job):
  a training job is how most models come to exist, and the model stream must say so.
- The model stream is written by the model handler too (registration, retirement), so it is not
  single-writer like a job stream: a conflicting append is retried once on the reloaded stream.
- The job's own progress never waits on the model stream: a model that another job is training,
  or that was retired, is logged and left alone (the job stream is the job's record).
"""

from __future__ import annotations

import logging

from consumers.errors import StreamFenced
from consumers.journal import Folded, Journal
from schemas.catalog import aggregate_named
from schemas.errors import IllegalTransition
from schemas.models import (
    AbandonModelTraining,
    BeginModelTraining,
    ModelStatus,
    PublishCheckpoint,
    RegisterModel,
)
from schemas.records import Command, command

log = logging.getLogger("consumers.training")
MODEL = aggregate_named("model")


class ModelStream:
    def __init__(self, journal: Journal, actor: str) -> None:
        self._journal, self._actor = journal, actor

    async def begin(self, model_id: str, job_id: str, owner: str, preset: str) -> None:
        for attempt in range(2):
            folded = await self._journal.load(model_id, MODEL)
            state = folded.state
            if state.status is ModelStatus.TRAINING and state.training_job_id == job_id:
                return  # a recovered or resumed job: already recorded
            steps: list[Command] = []
            if state.status is ModelStatus.ABSENT:
                description = f"registered by training job {job_id}"
                steps.append(self._cmd(RegisterModel, model_id, owner=owner, preset=preset,
                                       description=description))  # fmt: skip
            steps.append(self._cmd(BeginModelTraining, model_id, job_id=job_id))
            if await self._write(folded, steps, attempt):
                return

    async def publish(self, model_id: str, job_id: str, uri: str, step: int) -> None:
        await self._end(model_id, job_id, PublishCheckpoint, checkpoint_uri=uri, step=step)

    async def abandon(self, model_id: str, job_id: str, reason: str) -> None:
        await self._end(model_id, job_id, AbandonModelTraining, reason=reason)

    async def _end(self, model_id: str, job_id: str, cls: type[Command], **payload: object) -> None:
        for attempt in range(2):
            folded = await self._journal.load(model_id, MODEL)
            if folded.state.training_job_id != job_id:
                return  # this job never held the model (or its end is recorded already)
            cmd = self._cmd(cls, model_id, job_id=job_id, **payload)
            if await self._write(folded, [cmd], attempt):
                return

    async def _write(self, folded: Folded, steps: list[Command], attempt: int) -> bool:
        """True when done (written, or refused and logged); False to retry on a fresh load."""

        try:
            await self._journal.execute_all(folded, MODEL, [(c, None) for c in steps])
        except IllegalTransition as exc:
            log.warning("model stream %s left alone: %s", steps[0].stream_id, exc)
        except StreamFenced:
            if attempt == 0:
                return False
            log.warning("model stream %s kept changing; not written", steps[0].stream_id)
        return True

    def _cmd(self, cls: type[Command], model_id: str, **payload: object) -> Command:
        return command(cls, model_id, self._actor, **payload)

"""A job running on this worker: its folded stream, its control, and the messages it holds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from consumers.journal import Folded
from consumers.training.run import JobControl, JobSpec
from schemas.jobs import CancelJob, PauseJob

STOP_REASONS = ("shutdown", "revoked", "fenced")


@dataclass
class RunningJob:
    spec: JobSpec
    folded: Folded
    tp: TopicPartition
    lock: asyncio.Lock
    control: JobControl = field(default_factory=JobControl)
    stop_command: PauseJob | CancelJob | None = None
    stop_reason: str | None = None  # one of STOP_REASONS: leave the job to the next owner
    ended: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop()
                                        .create_future())  # fmt: skip
    task: asyncio.Task[bool] | None = None

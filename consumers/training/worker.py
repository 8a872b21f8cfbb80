"""The training worker's handler: job commands in, the job's event stream out.

Commands (``qllm.commands.training``, key job id): ``StartTraining`` and ``ResumeJob`` start a
job (a task on the loop, the training in a thread); ``PauseJob``, ``CancelJob`` and
``ForceCheckpoint`` reach the running job within one step through ``JobControl`` (a job's
commands share its key, so they reach the worker that runs it). The message that started a job
stays in flight (uncommitted) until the job ends, as does a pause or cancel until it has stopped.

Events, in the lifecycle's order, each decided by ``schemas.jobs.decide``: ``JobSubmitted`` →
``JobStarting`` → ``JobRunning`` → ``TrainingStepCompleted``… (every ``progress_every`` steps and
the last: loss, lr, tokens/s, grad norm, mean resonance iterations and entropy) and
``CheckpointSaved`` (every ``checkpoint_every`` steps, on ``ForceCheckpoint`` with ``forced``, on
pause, stop and shutdown) → ``CheckpointSaved`` + ``EvaluationCompleted`` + ``JobSucceeded`` |
``JobPaused`` | ``JobCancelRequested`` + ``JobCancelled`` | ``JobRetrying`` / ``JobFailed`` for
errors in the job (NaN loss …), which spend the retry budget. The model's stream says when a job
starts training it and what it published (``model_stream``).

Progress is recorded off the training thread: the trainer only queues its reports; a task on
the loop flushes them at most every ``progress_flush_ms`` as one append (one Cassandra batch) and
one burst of Kafka sends, so the per-step cost on the training thread is a queue put.

Crash recovery: a job found ACTIVE in its stream but not running here was lost with its worker.
``ReportWorkerLost`` gives ``JobRecovering`` (spending nothing) with the checkpoint step it resumes
from: the newest checkpoint the stream records (``CheckpointSaved`` follows the steps before it in
the queue, so every step up to it is recorded), not a newer one already in the store. Steps
redone after it are recorded as ``TrainingStepCompleted(redone=True)`` (decided so by
``schemas.jobs``), never as new facts. ``StreamFenced`` (a zombie) stops the training at once and
ends the job here without touching the stream or committing its command.

Per-handler choice: undecodable messages and commands the job's state refuses are dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from consumers.config import WorkerSettings
from consumers.errors import JobError, Poison, StreamFenced
from consumers.journal import Adjust, Folded, Journal, with_payload
from consumers.loop import Pending
from consumers.training.checkpoints import CheckpointStore
from consumers.training.job import RunningJob
from consumers.training.model_stream import ModelStream
from consumers.training.run import JobOutcome, JobSpec, run_job
from consumers.wire import decode_command
from model import Directive, StepReport
from model.checkpoint import checkpoint_step
from schemas.catalog import aggregate_named
from schemas.codec import Codec
from schemas.errors import IllegalTransition
from schemas.jobs import (
    TERMINAL,
    CancelJob,
    ClaimJob,
    CompleteJob,
    ConfirmCancelled,
    ForceCheckpoint,
    JobStatus,
    MarkJobRunning,
    PauseJob,
    RecordCheckpoint,
    RecordEvaluation,
    RecordTrainingStep,
    ReportJobError,
    ReportWorkerLost,
    ResumeJob,
    StartTraining,
)
from schemas.records import Command, command
from streams.deadletter import Message

log = logging.getLogger("consumers.training")
JOB = aggregate_named("job")
ACCEPTED = (StartTraining, PauseJob, ResumeJob, CancelJob, ForceCheckpoint)
ACTIVE = (JobStatus.STARTING, JobStatus.RUNNING, JobStatus.RECOVERING)


@dataclass(frozen=True)
class Saved:
    """A checkpoint made durable in the store, queued for the stream like a step report."""

    step: int
    uri: str
    forced_by: str | None = None  # the ForceCheckpoint command's id


Progress = StepReport | Saved | None


def _mean(values: tuple[float, ...]) -> float | None:
    return sum(values) / len(values) if values else None


class TrainingHandler:
    def __init__(
        self, journal: Journal, codec: Codec, worker: WorkerSettings,
        data_root: str = ".qllm/datasets",
    ) -> None:  # fmt: skip
        self._journal, self._codec, self._worker = journal, codec, worker
        self._data_root = data_root  # Settings.data_root: the datasets the API stored
        self.store = CheckpointStore(worker.checkpoint_url)
        self.models = ModelStream(journal, worker.worker_id)
        self.jobs: dict[str, RunningJob] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- commands ------------------------------------------------------------------------------
    async def handle(self, message: Message) -> Pending | None:
        cmd = decode_command(self._codec, message, ACCEPTED)
        lock = self._locks.setdefault(cmd.stream_id, asyncio.Lock())
        async with lock:
            job = self.jobs.get(cmd.stream_id)
            if job is not None:
                return await self._steer(job, cmd)
            folded = await self._journal.load(cmd.stream_id, JOB)
            tp = TopicPartition(message.topic, message.partition)
            done = folded.caused_by(cmd.event_id)
            if not done:
                return await self._idle(folded, cmd, tp)
            await self._journal.republish(done)  # a redelivery: its events are stored already
            if isinstance(cmd, StartTraining | ResumeJob) and folded.state.status in (
                JobStatus.PENDING,
                *ACTIVE,
            ):
                return self._launch(folded, cmd.stream_id, tp)
            return None

    async def _idle(self, folded: Folded, cmd: Command, tp: TopicPartition) -> Pending | None:
        """A command for a job that is not running here."""
        status = folded.state.status
        if isinstance(cmd, ForceCheckpoint):
            raise Poison("JobNotRunning", f"job {cmd.stream_id} is not running ({status})", status)
        if isinstance(cmd, StartTraining):
            if status is JobStatus.ABSENT:
                await self._execute(folded, cmd)
            elif status is JobStatus.CANCELLING:  # its worker was lost while cancelling
                await self._execute(
                    folded,
                    self._command(
                        ReportWorkerLost, cmd.stream_id, worker_id=str(folded.state.worker_id)
                    ),
                )
            if folded.state.status in (JobStatus.PENDING, *ACTIVE):
                return self._launch(folded, cmd.stream_id, tp)
            return None  # finished, paused or cancelled: nothing to run
        await self._execute(folded, cmd)  # pause, cancel or resume of a job that is not running
        if isinstance(cmd, ResumeJob):
            return self._launch(folded, cmd.stream_id, tp)
        return None

    async def _steer(self, job: RunningJob, cmd: Command) -> Pending | None:
        if isinstance(cmd, StartTraining | ResumeJob):
            # already running here: held until the job ends, like the message that started it;
            # committed only if it ends done (a job stopped or fenced off leaves it uncommitted)
            assert job.task is not None
            return job.task
        if isinstance(cmd, ForceCheckpoint):
            try:
                JOB.decide(job.folded.state, cmd)  # accepted only while running
            except IllegalTransition as exc:
                raise Poison("IllegalTransition", str(exc), job.folded.state.status) from exc
            job.control.checkpoint_requested = cmd.event_id
            return None
        assert isinstance(cmd, PauseJob | CancelJob)
        if isinstance(cmd, CancelJob):
            async with job.lock:
                await self._execute(job.folded, cmd)  # JobCancelRequested
            job.control.request(Directive.STOP)
        else:
            job.control.request(Directive.PAUSE)
        if job.stop_command is None:
            job.stop_command = cmd
        return job.ended

    async def _execute(self, folded: Folded, cmd: Command, **payload: object) -> None:
        try:
            await self._journal.execute(folded, JOB, cmd, with_payload(**payload))
        except IllegalTransition as exc:
            raise Poison("IllegalTransition", str(exc), folded.state.status) from exc

    def _command(self, cls: type[Command], job_id: str, **payload: object) -> Command:
        return command(cls, job_id, self._worker.worker_id, **payload)

    # -- running a job -------------------------------------------------------------------------
    def _launch(self, folded: Folded, job_id: str, tp: TopicPartition) -> Pending:
        s = folded.state
        spec = JobSpec(job_id, s.preset, s.max_steps, self.store.workdir(job_id), s.training_type,
                       s.dataset_id, dict(s.hyperparameters), self._data_root,
                       extensions=dict(s.extensions))  # fmt: skip
        job = RunningJob(spec, folded, tp, asyncio.Lock())
        self.jobs[job_id] = job
        job.task = asyncio.create_task(self._drive(job))
        return job.task

    async def _drive(self, job: RunningJob) -> bool:
        try:
            async with job.lock:
                await self._begin(job)
            while True:
                try:
                    outcome = await self._attempt(job)
                except JobError as exc:
                    if not await self._job_error(job, exc.reason):
                        return True
                    continue
                return await self._finish(job, outcome)
        except StreamFenced as exc:
            log.warning("job %s fenced off: %s", job.spec.job_id, exc)
            return False
        finally:
            self.jobs.pop(job.spec.job_id, None)
            if not job.ended.done():
                job.ended.set_result(job.stop_reason is None)

    async def _begin(self, job: RunningJob) -> None:
        """Claim (or recover) and mark running in one append: one Paxos round, one burst."""
        s, job_id, me = job.folded.state, job.spec.job_id, self._worker.worker_id
        steps: list[Command] = []
        if s.status in (JobStatus.STARTING, JobStatus.RUNNING) or (
            s.status is JobStatus.RECOVERING and s.worker_id is not None
        ):
            checkpoint = await asyncio.to_thread(self.store.fetch_latest, job_id,
                                                 s.checkpoint_step)  # fmt: skip
            resume = checkpoint_step(checkpoint) if checkpoint is not None else 0
            steps.append(self._command(ReportWorkerLost, job_id, worker_id=str(s.worker_id),
                                       resume_step=resume))  # fmt: skip
        elif s.status is JobStatus.PENDING:
            steps.append(self._command(ClaimJob, job_id, worker_id=me))
        steps.append(self._command(MarkJobRunning, job_id, worker_id=me))
        await self._execute_all(job, [(cmd, None) for cmd in steps])
        s = job.folded.state
        await self.models.begin(s.model_id, job_id, s.owner, s.preset)

    async def _attempt(self, job: RunningJob) -> JobOutcome:
        loop, queue = asyncio.get_running_loop(), asyncio.Queue[Progress]()
        # the newest checkpoint the stream records: one saved later may be ahead of the steps
        # recorded (it is pushed from the training thread, the steps are queued), and resuming
        # from it would leave those steps unrecorded for good
        recorded = job.folded.state.checkpoint_step
        spec = replace(job.spec, resume_at_most=recorded)
        await asyncio.to_thread(self.store.fetch_latest, spec.job_id, recorded)

        def on_step(report: StepReport) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, report)

        def on_checkpoint(step: int, path: Path, forced_by: str | None) -> None:
            uri = self.store.push(job.spec.job_id, path)
            loop.call_soon_threadsafe(queue.put_nowait, Saved(step, uri, forced_by))

        ended = asyncio.Event()  # the training returned: record what is queued without waiting
        drain = asyncio.create_task(self._record_progress(job, queue, ended))
        try:
            return await asyncio.to_thread(run_job, spec, self._worker, job.control,
                                           on_step, on_checkpoint)  # fmt: skip
        except JobError:
            raise
        except Exception as exc:  # a bug or bad input inside the job: the job's own error
            raise JobError(job.spec.job_id, repr(exc)) from exc
        finally:
            ended.set()
            queue.put_nowait(None)
            await drain

    async def _record_progress(
        self, job: RunningJob, queue: asyncio.Queue[Progress], ended: asyncio.Event
    ) -> None:
        """Record due steps and saved checkpoints; what queued meanwhile goes in one append.

        Between appends it waits up to ``progress_flush_ms`` for more to queue, and no longer
        once the training has returned: the job's end is not held back by a flush pause.
        """
        every, last, finished = self._worker.progress_every, job.spec.max_steps, False
        flush_s = self._worker.progress_flush_ms / 1000
        while not finished:
            items = [await queue.get()]
            if items[0] is not None and flush_s > 0:
                # let the trainer queue more (fewer, larger appends) unless it has returned
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), flush_s)
            while not queue.empty():
                items.append(queue.get_nowait())
            finished = items[-1] is None
            due = [i for i in items if isinstance(i, Saved) or (
                isinstance(i, StepReport) and (i.step % every == 0 or i.step == last))]  # fmt: skip
            async with job.lock:
                if due and job.folded.state.status is JobStatus.RUNNING:  # not while cancelling
                    await self._record_due(job, [self._progress(job, i) for i in due])

    async def _record_due(self, job: RunningJob, due: list[tuple[Command, Adjust | None]]) -> None:
        try:
            await self._execute_all(job, due)
        except StreamFenced:  # another worker owns the job now: stop training it here at once
            job.stop_reason = "fenced"
            job.control.request(Directive.STOP)
            raise

    def _progress(self, job: RunningJob, item: StepReport | Saved) -> tuple[Command, Adjust | None]:
        job_id = job.spec.job_id
        if isinstance(item, Saved):
            cmd = self._command(RecordCheckpoint, job_id, step=item.step, checkpoint_uri=item.uri,
                                forced=item.forced_by is not None)  # fmt: skip
            return cmd, _caused_by(item.forced_by)
        r = item
        cmd = self._command(
            RecordTrainingStep, job_id, step=r.step, loss=r.loss, lr=r.lr,
            tokens_per_s=r.tokens_per_s, grad_norm=r.grad_norm,
            mean_iterations=_mean(r.mean_iterations), mean_entropy=_mean(r.mean_entropy),
        )  # fmt: skip
        return cmd, None

    async def _execute_all(
        self, job: RunningJob, steps: list[tuple[Command, Adjust | None]]
    ) -> None:
        try:
            await self._journal.execute_all(job.folded, JOB, steps)
        except IllegalTransition as exc:
            raise Poison("IllegalTransition", str(exc), job.folded.state.status) from exc

    async def _job_error(self, job: RunningJob, reason: str) -> bool:
        """Record an error of the job; True when the budget allows another attempt."""
        log.warning("job %s error: %s", job.spec.job_id, reason)
        async with job.lock:
            await self._execute(job.folded, self._command(ReportJobError, job.spec.job_id,
                                                          reason=reason))  # fmt: skip
            if job.folded.state.status is JobStatus.FAILED:
                await self.models.abandon(job.folded.state.model_id, job.spec.job_id, reason)
                return False
            await self._execute(
                job.folded,
                self._command(MarkJobRunning, job.spec.job_id, worker_id=self._worker.worker_id),
            )
        return True

    async def _finish(self, job: RunningJob, outcome: JobOutcome) -> bool:
        async with job.lock:
            if outcome.status == "completed":
                await self._succeed(job, outcome)
                return True
            saved = await self._saved(job, outcome)
            if job.stop_reason is not None:
                if saved and job.folded.state.status is JobStatus.RUNNING:
                    await self._execute_all(job, saved)  # the step it stopped at is durable
                log.info("job %s left at step %d (%s)", job.spec.job_id, outcome.step,
                         job.stop_reason)  # fmt: skip
                return False  # the next owner of the partition recovers it
            if isinstance(job.stop_command, CancelJob):
                await self._execute_all(job, [*saved, (self._command(
                    ConfirmCancelled, job.spec.job_id), None)])  # fmt: skip
                await self.models.abandon(job.folded.state.model_id, job.spec.job_id, "cancelled")
            elif job.stop_command is not None:
                await self._execute_all(job, [*saved, (job.stop_command, None)])  # JobPaused
            return True

    async def _saved(
        self, job: RunningJob, outcome: JobOutcome
    ) -> list[tuple[Command, Adjust | None]]:
        """Push the attempt's last checkpoint; a ``RecordCheckpoint`` unless already recorded."""
        if outcome.checkpoint is None:
            return []
        uri = await asyncio.to_thread(self.store.push, job.spec.job_id, outcome.checkpoint)
        if job.folded.state.checkpoint_uri == uri:
            return []
        return [(self._command(RecordCheckpoint, job.spec.job_id, step=outcome.step,
                               checkpoint_uri=uri), None)]  # fmt: skip

    async def _succeed(self, job: RunningJob, outcome: JobOutcome) -> None:
        """Final checkpoint, evaluation and success in one append; then the model's stream."""
        assert outcome.checkpoint is not None
        job_id, s = job.spec.job_id, job.folded.state
        saved = await self._saved(job, outcome)
        uri = await asyncio.to_thread(self.store.push, job_id, outcome.checkpoint)
        model_uri = await asyncio.to_thread(self.store.publish_model, s.model_id,
                                            outcome.checkpoint)  # fmt: skip
        metrics = _metrics(outcome.evaluation or {})
        evaluated = self._command(RecordEvaluation, job_id, step=outcome.step, checkpoint_uri=uri,
                                  metrics=metrics)  # fmt: skip
        done = self._command(CompleteJob, job_id, checkpoint_uri=uri)
        await self._execute_all(job, [*saved, (evaluated, None), (done, None)])
        await self.models.publish(s.model_id, job_id, model_uri, outcome.step)

    # -- leaving -------------------------------------------------------------------------------
    async def _stop_jobs(self, jobs: list[RunningJob], reason: str) -> None:
        for job in jobs:
            job.stop_reason = reason
            job.control.request(Directive.STOP)
        tasks = [job.task for job in jobs if job.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def release(self, partitions: set[TopicPartition]) -> None:
        await self._stop_jobs([j for j in self.jobs.values() if j.tp in partitions], "revoked")

    async def close(self) -> None:
        await self._stop_jobs(list(self.jobs.values()), "shutdown")


def _caused_by(command_id: str | None) -> Adjust | None:
    if command_id is None:
        return None
    return lambda event: replace(event, causation_id=command_id)


def _metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """The evaluation's numeric figures; per-layer tuples as their mean."""
    out = {}
    for name, value in evaluation.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
        elif (
            isinstance(value, tuple | list)
            and value
            and all(isinstance(v, int | float) for v in value)
        ):
            out[f"mean_{name}" if not name.startswith("mean_") else name] = float(
                sum(value) / len(value)
            )
    return out


__all__ = ["TERMINAL", "TrainingHandler"]

"""The training worker's handler: job commands in, the job's event stream out.

Commands (``qllm.commands.training``, key job id): ``StartTraining`` and ``ResumeJob`` start a
job (a task on the loop, the training in a thread); ``PauseJob`` and ``CancelJob`` reach the
running job within one step through ``JobControl``. The message that started a job stays in
flight (uncommitted) until the job ends, as does a pause or cancel until the job has stopped.

Events, in the lifecycle's order, each decided by ``schemas.jobs.decide``: ``JobSubmitted`` →
``JobStarting`` → ``JobRunning`` → ``TrainingStepCompleted``… (every ``progress_every`` steps and
the last, with ``tokens_per_s``) → ``JobSucceeded`` (the final checkpoint's URI; its folder holds
``evaluation.json``) | ``JobPaused`` | ``JobCancelRequested`` + ``JobCancelled`` |
``JobRetrying`` / ``JobFailed`` for errors in the job (NaN loss …), which spend the retry budget.

Crash recovery: a job found ACTIVE in its stream but not running here was lost with its worker.
``ReportWorkerLost`` gives ``JobRecovering`` (spending nothing); its reason names the checkpoint
step resumed from and the steps redone after it, which are not recorded again (the stream stays a
list of facts). ``StreamFenced`` (a zombie) ends the job here without touching the stream.

Per-handler choice: undecodable messages and commands the job's state refuses are dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiokafka import TopicPartition

from consumers.config import WorkerSettings
from consumers.errors import JobError, Poison, StreamFenced
from consumers.journal import Folded, Journal, with_payload
from consumers.loop import Pending
from consumers.training.checkpoints import CheckpointStore
from consumers.training.job import RunningJob
from consumers.training.run import JobOutcome, JobSpec, run_job
from consumers.wire import decode_command
from model import Directive, StepReport
from schemas.catalog import aggregate_named
from schemas.codec import Codec
from schemas.errors import IllegalTransition
from schemas.jobs import (
    TERMINAL,
    CancelJob,
    ClaimJob,
    CompleteJob,
    ConfirmCancelled,
    JobStatus,
    MarkJobRunning,
    PauseJob,
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
ACCEPTED = (StartTraining, PauseJob, ResumeJob, CancelJob)
ACTIVE = (JobStatus.STARTING, JobStatus.RUNNING, JobStatus.RECOVERING)


class TrainingHandler:
    def __init__(self, journal: Journal, codec: Codec, worker: WorkerSettings) -> None:
        self._journal, self._codec, self._worker = journal, codec, worker
        self.store = CheckpointStore(worker.checkpoint_url)
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
            return None  # already running here
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
        spec = JobSpec(job_id, s.preset, s.max_steps, self.store.workdir(job_id))
        job = RunningJob(spec, folded, tp, asyncio.Lock(), recorded=s.step)
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
        s, job_id = job.folded.state, job.spec.job_id
        if s.status in (JobStatus.STARTING, JobStatus.RUNNING) or (
            s.status is JobStatus.RECOVERING and s.worker_id is not None
        ):
            checkpoint = await asyncio.to_thread(self.store.fetch_latest, job_id)
            await self._execute(
                job.folded, self._command(ReportWorkerLost, job_id, worker_id=str(s.worker_id)),
                reason=_recovery_reason(str(s.worker_id), checkpoint, s.step),
            )  # fmt: skip
        if job.folded.state.status is JobStatus.PENDING:
            await self._execute(
                job.folded, self._command(ClaimJob, job_id, worker_id=self._worker.worker_id)
            )
        await self._execute(
            job.folded, self._command(MarkJobRunning, job_id, worker_id=self._worker.worker_id)
        )

    async def _attempt(self, job: RunningJob) -> JobOutcome:
        loop, queue = asyncio.get_running_loop(), asyncio.Queue[StepReport | None]()
        await asyncio.to_thread(self.store.fetch_latest, job.spec.job_id)

        def on_step(report: StepReport) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, report)

        def on_checkpoint(step: int, path: Path) -> None:
            uri = self.store.push(job.spec.job_id, path)
            log.info("job %s checkpoint at step %d: %s", job.spec.job_id, step, uri)

        drain = asyncio.create_task(self._record_steps(job, queue))
        try:
            return await asyncio.to_thread(run_job, job.spec, self._worker, job.control,
                                           on_step, on_checkpoint)  # fmt: skip
        except JobError:
            raise
        except Exception as exc:  # a bug or bad input inside the job: the job's own error
            raise JobError(job.spec.job_id, repr(exc)) from exc
        finally:
            queue.put_nowait(None)
            await drain

    async def _record_steps(self, job: RunningJob, queue: asyncio.Queue[StepReport | None]) -> None:
        """Record due steps; the reports queued meanwhile go in one append (one LWT batch)."""
        every, last, finished = self._worker.progress_every, job.spec.max_steps, False
        while not finished:
            reports = [await queue.get()]
            while not queue.empty():
                reports.append(queue.get_nowait())
            finished = reports[-1] is None
            due = [r for r in reports if r is not None and r.step > job.recorded
                   and (r.step % every == 0 or r.step == last)]  # fmt: skip
            async with job.lock:
                if due and job.folded.state.status is JobStatus.RUNNING:  # not while cancelling
                    await self._record(job, due)

    async def _record(self, job: RunningJob, due: list[StepReport]) -> None:
        steps = [
            (self._command(RecordTrainingStep, job.spec.job_id, step=r.step, loss=r.loss),
             with_payload(tokens_per_s=r.tokens_per_s))
            for r in due
        ]  # fmt: skip
        try:
            await self._journal.execute_all(job.folded, JOB, steps)
        except IllegalTransition as exc:
            raise Poison("IllegalTransition", str(exc), job.folded.state.status) from exc
        job.recorded = due[-1].step

    async def _job_error(self, job: RunningJob, reason: str) -> bool:
        """Record an error of the job; True when the budget allows another attempt."""
        log.warning("job %s error: %s", job.spec.job_id, reason)
        async with job.lock:
            await self._execute(job.folded, self._command(ReportJobError, job.spec.job_id,
                                                          reason=reason))  # fmt: skip
            if job.folded.state.status is JobStatus.FAILED:
                return False
            await self._execute(
                job.folded,
                self._command(MarkJobRunning, job.spec.job_id, worker_id=self._worker.worker_id),
            )
        return True

    async def _finish(self, job: RunningJob, outcome: JobOutcome) -> bool:
        job_id = job.spec.job_id
        async with job.lock:
            if outcome.status == "completed":
                assert outcome.checkpoint is not None
                uri = await asyncio.to_thread(self.store.push, job_id, outcome.checkpoint)
                model_id = job.folded.state.model_id
                await asyncio.to_thread(self.store.publish_model, model_id, outcome.checkpoint)
                await self._execute(
                    job.folded, self._command(CompleteJob, job_id, checkpoint_uri=uri)
                )
                return True
            if outcome.checkpoint is not None:
                await asyncio.to_thread(self.store.push, job_id, outcome.checkpoint)
            if job.stop_reason is not None:
                log.info("job %s left at step %d (%s)", job_id, outcome.step, job.stop_reason)
                return False  # the next owner of the partition recovers it
            if isinstance(job.stop_command, CancelJob):
                await self._execute(job.folded, self._command(ConfirmCancelled, job_id))
            elif job.stop_command is not None:
                await self._execute(job.folded, job.stop_command)  # JobPaused, after the save
            return True

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


def _recovery_reason(worker_id: str, checkpoint: Path | None, recorded: int) -> str:
    step = int(checkpoint.name.split("-")[-1]) if checkpoint is not None else 0
    reason = f"worker {worker_id} lost; resuming from checkpoint at step {step}"
    if recorded > step:
        reason += f"; steps {step + 1}..{recorded} are redone and not recorded again"
    return reason


__all__ = ["TERMINAL", "TrainingHandler"]

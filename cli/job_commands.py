"""``qllm train [--follow]`` and ``qllm jobs list | show | stop | resume | replay``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cli import exit_codes, progress, session
from sdk import Client
from sdk.models import ServerEvent

jobs = typer.Typer(help="Training jobs: list, inspect, stop, resume, replay.", no_args_is_help=True)


def _finish(ctx: typer.Context, qllm: Client, job_id: str) -> None:
    job = qllm.get_job(job_id)
    if session.options(ctx).as_json:
        session.emit_json(job)
    else:
        colour = "green" if job.status == "SUCCEEDED" else "red"
        why = f": {job.reason}" if job.reason else ""
        session.out().print(f"job {job_id} [bold {colour}]{job.status}[/]{why} "
                            f"(step {job.step}/{job.max_steps}, model {job.model_id})")  # fmt: skip
    if job.status != "SUCCEEDED":
        raise typer.Exit(exit_codes.JOB_FAILED)


def train(
    ctx: typer.Context,
    preset: Annotated[str, typer.Option(help="model preset")] = "tiny",
    steps: Annotated[int, typer.Option(min=1, help="optimizer steps")] = 100,
    model_id: Annotated[str | None, typer.Option("--model", help="train this model")] = None,
    dataset: Annotated[str, typer.Option(help="dataset id")] = "default",
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="live progress to the end")
    ] = False,
) -> None:
    """Submit a training job; with --follow, show live progress and exit with its outcome."""
    hyper = {"learning_rate": lr} if lr is not None else {}
    with session.client(ctx) as qllm:
        accepted = qllm.create_job(preset=preset, max_steps=steps, model_id=model_id,
                                   dataset_id=dataset, hyperparameters=hyper)  # fmt: skip
        job_id = accepted.resource_id
        if not follow:
            if session.options(ctx).as_json:
                session.emit_json({"job_id": job_id, "location": accepted.location,
                                   **accepted.body})  # fmt: skip
            else:
                session.out().print(f"submitted {job_id} (model {accepted.body.get('model_id')})")
            return
        if not session.options(ctx).as_json:
            session.out().print(
                f"submitted {job_id}; following (Ctrl-C stops following, not the job)"
            )
            progress.follow(qllm.follow_job(job_id), steps, session.err())
        else:
            for _ in qllm.follow_job(job_id):
                pass
        _finish(ctx, qllm, job_id)


@jobs.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    owner: Annotated[str | None, typer.Option(help="only this owner's jobs")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """Training jobs, newest first."""
    with session.client(ctx) as qllm:
        page = qllm.list_jobs(status=status, owner=owner, limit=limit)
    if session.options(ctx).as_json:
        session.emit_json(page.items)
        return
    table = Table("job id", "status", "step", "loss", "model", "owner", "submitted")
    for job in page.items:
        loss = f"{job.loss:.4f}" if job.loss is not None else "—"
        when = f"{job.submitted_at:%Y-%m-%d %H:%M:%S}" if job.submitted_at else ""
        table.add_row(job.job_id, job.status, f"{job.step}/{job.max_steps}", loss, job.model_id,
                      job.owner, when)  # fmt: skip
    session.out().print(table)


@jobs.command("show")
def show_job(ctx: typer.Context, job_id: str) -> None:
    """One job as it is now."""
    with session.client(ctx) as qllm:
        job = qllm.get_job(job_id)
    session.show(ctx, job, lambda: session.fields(job))


def _control(ctx: typer.Context, job_id: str, action: str) -> None:
    with session.client(ctx) as qllm:
        accepted = (qllm.stop_job if action == "stop" else qllm.resume_job)(job_id)
    if session.options(ctx).as_json:
        session.emit_json({"job_id": job_id, "action": action, "location": accepted.location})
        return
    session.out().print(f"{action} of {job_id} accepted")


@jobs.command("stop")
def stop_job(ctx: typer.Context, job_id: str) -> None:
    """Cancel a job."""
    _control(ctx, job_id, "stop")


@jobs.command("resume")
def resume_job(ctx: typer.Context, job_id: str) -> None:
    """Resume a paused job from its last checkpoint."""
    _control(ctx, job_id, "resume")


def _line(event: ServerEvent) -> str:
    data = event.json()
    skip = {"type", "event_id", "stream_id", "seq", "occurred_at", "causation_id", "actor"}
    rest = " ".join(f"{k}={v}" for k, v in data.items() if k not in skip and v not in (None, ""))
    return f"{event.id:>5}  {data.get('occurred_at', '')}  {event.event:<22} {rest}"


@jobs.command("replay")
def replay_job(ctx: typer.Context, job_id: str) -> None:
    """Print the job's event history, as stored in the event store."""
    with session.client(ctx) as qllm:
        for event in qllm.job_history(job_id):
            if session.options(ctx).as_json:
                typer.echo(json.dumps({"id": event.id, "event": event.event, "data": event.json()}))
            else:
                session.out().print(_line(event), markup=False)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.add_typer(jobs, name="jobs")

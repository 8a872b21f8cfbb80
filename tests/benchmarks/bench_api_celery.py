"""The Celery baseline of ``bench_api``: the same submit-and-read-status flow on Celery + Redis.

What the seed would have run: a FastAPI app whose ``POST /jobs`` enqueues a Celery task on a
Redis broker and answers 202 with the task id, and whose ``GET /jobs/{id}`` reads the task's
state from the Redis result backend. The task is the equivalent "accept a training job" work:
validate the request and record the job as PENDING (here: return its record, which the result
backend stores). Deliberately lighter than our API (no auth, no rate limit, no Avro, no
ownership checks), so a comparison flatters Celery, not us.

Own Redis db (``BENCH_CELERY_REDIS``; ``bench_api`` passes db 7 of the stack's Redis) and key
prefix, so it never touches the platform's keys. Run by ``bench_api``: the worker as
``python -m celery -A tests.benchmarks.bench_api_celery worker --pool=solo``, the app as
``uvicorn tests.benchmarks.bench_api_celery:app``.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from fastapi import FastAPI
from fastapi.responses import JSONResponse

REDIS = os.environ.get("BENCH_CELERY_REDIS", "redis://127.0.0.1:6390/7")
PREFIX = {"global_keyprefix": "qllm-bench-celery:"}

celery_app = Celery("qllm_bench", broker=REDIS, backend=REDIS)
celery_app.conf.update(
    broker_transport_options=PREFIX,
    result_backend_transport_options=PREFIX,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,  # like ours: the work is acknowledged after it is done
    task_track_started=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@celery_app.task(name="accept_training_job")
def accept_training_job(job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Accept a training job: check it and record it as PENDING (the result backend holds it)."""
    if not isinstance(body.get("preset"), str) or int(body.get("max_steps", 1)) < 1:
        raise ValueError("bad training job")
    return {"job_id": job_id, "status": "PENDING", **body}


app = FastAPI()


@app.post("/jobs", status_code=202)
def submit(body: dict[str, Any]) -> JSONResponse:
    # sync route (a thread): apply_async blocks until the broker has the message
    job_id = f"job-{uuid.uuid4().hex}"
    accept_training_job.apply_async((job_id, body), task_id=job_id)
    return JSONResponse({"id": job_id}, status_code=202, headers={"Location": f"/jobs/{job_id}"})


@app.get("/jobs/{job_id}")
def status(job_id: str) -> dict[str, Any]:
    result = AsyncResult(job_id, app=celery_app)
    return {"id": job_id, "status": result.state}

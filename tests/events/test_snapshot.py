"""The projection's JSON snapshots: a state goes out and comes back equal, and a reader skips a
field written by a newer version of the state (a rolling upgrade: a new stream processor, an API
not yet restarted) instead of failing on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from schemas.jobs import JobState, JobStatus
from schemas.snapshot import from_json, to_json

STATE = JobState(job_id="job-1", version=4, status=JobStatus.RUNNING, owner="ann", model_id="m",
                 preset="tiny", max_steps=5, hyperparameters={"learning_rate": 0.01},
                 extensions={"memory": "True"}, step=2, loss=1.5,
                 submitted_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))  # fmt: skip


def test_a_state_comes_back_equal() -> None:
    assert from_json(JobState, to_json(STATE)) == STATE


def test_a_field_from_a_newer_version_is_skipped_not_a_failure() -> None:
    newer = {**json.loads(to_json(STATE)), "priority": 7}
    assert from_json(JobState, json.dumps(newer)) == STATE

"""``qllm`` through typer's runner against the running service: login, keys, models, a tiny job
trained with ``train --follow`` to SUCCEEDED, jobs list/show/stop/replay, generate and chat, and
the exit codes of ``cli.exit_codes``."""

from __future__ import annotations

import json
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import exit_codes
from cli.main import app
from tests.sdk.live import Live

pytestmark = pytest.mark.stack
runner = CliRunner()


def qllm(live: Live, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--url", live.base_url, *args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def logged_in(live: Live) -> None:
    code, _, err = qllm(live, "login", "-u", live.admin[0], "-p", live.admin[1])
    assert code == 0, err


def test_login_keeps_the_tokens_in_a_file_only_its_user_can_read(live: Live, home: Path) -> None:
    code, out, _ = qllm(live, "login", "-u", live.admin[0], "-p", live.admin[1])
    assert code == 0 and "logged in" in out
    stored = home / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert json.loads(stored.read_text())["tokens"]["access_token"]
    code, out, _ = qllm(live, "--json", "whoami")
    assert (code, json.loads(out)["subject"]) == (0, live.admin[0])
    code, _, err = qllm(live, "login", "-u", live.admin[0], "-p", "wrong")
    assert code == exit_codes.AUTH and "invalid username or password" in err


def test_without_credentials_or_service_the_exit_code_says_which(live: Live, home: Path) -> None:
    code, _, err = qllm(live, "jobs", "list")
    assert code == exit_codes.AUTH and "qllm login" in err
    result = runner.invoke(app, ["--url", "http://127.0.0.1:9", "jobs", "list"])
    assert result.exit_code == exit_codes.UNAVAILABLE and "cannot reach" in result.stderr


def test_keys_are_created_listed_and_revoked(live: Live, home: Path) -> None:
    logged_in(live)
    code, out, _ = qllm(live, "--json", "keys", "create", "cli-test", "--role", "readonly")
    created = json.loads(out)
    assert code == 0 and created["api_key"] and created["role"] == "readonly"
    _, out, _ = qllm(live, "--json", "keys", "list")
    assert created["key_id"] in {k["key_id"] for k in json.loads(out)}
    assert qllm(live, "keys", "revoke", created["key_id"])[0] == 0
    _, out, _ = qllm(live, "--json", "keys", "list")
    (row,) = [k for k in json.loads(out) if k["key_id"] == created["key_id"]]
    assert row["revoked_at"] is not None
    result = runner.invoke(app, ["--url", live.base_url, "whoami"],
                           env={"QLLM_API_KEY": created["api_key"]})  # fmt: skip
    assert result.exit_code == exit_codes.AUTH


def test_train_follow_shows_progress_to_succeeded_and_jobs_commands_read_it(
    live: Live, home: Path
) -> None:
    logged_in(live)
    code, out, err = qllm(live, "train", "--steps", "3", "--follow")
    assert code == 0, err
    job_id = re.search(r"(job-[0-9a-f]+) .*SUCCEEDED", out)
    assert job_id is not None, out
    assert re.search(r"SUCCEEDED.*3/3", err), err  # the final frame of the progress bar
    job_id = job_id.group(1)
    _, out, _ = qllm(live, "--json", "jobs", "show", job_id)
    job = json.loads(out)
    assert (job["status"], job["step"]) == ("SUCCEEDED", 3)
    _, out, _ = qllm(live, "--json", "jobs", "list")
    assert job_id in [j["job_id"] for j in json.loads(out)]
    _, out, _ = qllm(live, "--json", "jobs", "replay", job_id)
    history = [json.loads(line) for line in out.splitlines()]
    assert [int(h["id"]) for h in history] == list(range(1, job["version"] + 1))
    assert (history[0]["event"], history[-1]["event"]) == ("JobSubmitted", "JobSucceeded")
    assert [h["data"]["step"] for h in history if h["event"] == "TrainingStepCompleted"] == [
        1,
        2,
        3,
    ]
    code, _, err = qllm(live, "jobs", "stop", job_id)
    assert code == exit_codes.API_ERROR and "SUCCEEDED" in err
    model_id = job["model_id"]
    for _ in range(60):  # the model turns READY when the stream processor folds its checkpoint
        _, out, _ = qllm(live, "--json", "models", "show", model_id)
        if json.loads(out)["status"] == "READY":
            break
        time.sleep(0.5)
    _, out, _ = qllm(live, "--json", "models", "list")
    assert model_id in [m["model_id"] for m in json.loads(out)]
    assert qllm(live, "models", "load", model_id)[0] == 0
    assert qllm(live, "models", "unload", model_id)[0] == 0


def test_models_create_is_accepted_and_missing_models_exit_not_found(
    live: Live, home: Path
) -> None:
    logged_in(live)
    wanted = f"cli-{time.time_ns()}"
    code, out, _ = qllm(live, "--json", "models", "create", "--id", wanted, "--description", "d")
    assert code == 0 and json.loads(out)["location"] == f"/api/v1/models/{wanted}"
    code, _, err = qllm(live, "models", "show", "model-nope")
    assert code == exit_codes.NOT_FOUND and "no such model" in err
    code, _, err = qllm(live, "models", "load", "model-nope")
    assert code == exit_codes.NOT_FOUND


def test_generate_and_chat_stream_the_models_text(live: Live, home: Path) -> None:
    logged_in(live)
    args = ["--max-tokens", "6", "--temperature", "0"]
    code, streamed, _ = qllm(live, "generate", "def add(a, b):", *args)
    _, whole, _ = qllm(live, "--json", "generate", "def add(a, b):", *args)
    assert code == 0 and streamed == json.loads(whole)["text"] + "\n"
    code, out, _ = qllm(live, "chat", *args, stdin="hello\nand again\n")
    assert code == 0 and out.count("assistant> ") == 2


def test_status_exit_code_matches_the_health_it_prints(home: Path) -> None:
    result = runner.invoke(app, ["status"])
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert {row[0] for row in rows} == {"kafka", "cassandra", "redis"}
    healthy = all(row[1] == "ready" for row in rows)
    assert result.exit_code == (exit_codes.OK if healthy else exit_codes.STACK_DOWN)


def _until(live: Live, check: Callable[[dict[str, Any]], bool], *args: str) -> dict[str, Any]:
    for _ in range(120):
        code, out, _ = qllm(live, "--json", *args)
        if code == 0 and check(found := json.loads(out)):
            return found
        time.sleep(0.5)
    raise AssertionError(f"{args}: {out}")


def test_a_models_extension_is_switched_and_its_next_job_trains_with_it(
    live: Live, home: Path
) -> None:
    logged_in(live)
    model_id = f"cli-ext-{time.time_ns()}"
    assert qllm(live, "models", "create", "--id", model_id)[0] == 0
    _until(live, lambda m: m["status"] == "REGISTERED", "models", "show", model_id)
    code, _, err = qllm(live, "models", "extension", model_id, "memory")
    assert code != 0 and "nothing to change" in err
    code, _, err = qllm(live, "models", "extension", model_id, "memory", "--set", "slots")
    assert code != 0 and "key=value" in err
    code, _, err = qllm(live, "models", "extension", model_id, "memory", "--set",
                        "memory_slots=0")  # fmt: skip
    assert code == exit_codes.API_ERROR and "memory_slots" in err  # the API's 422, named
    code, out, err = qllm(live, "models", "extension", model_id, "memory", "--on", "--set",
                          "memory_slots=16")  # fmt: skip
    assert code == 0 and "next training" in out, err
    _until(live, lambda m: m["enabled_extensions"] == ["memory"], "models", "show", model_id)
    _, out, _ = qllm(live, "--json", "models", "extensions", model_id)
    memory = next(e for e in json.loads(out) if e["name"] == "memory")
    assert memory["enabled"] and memory["settings"]["memory_slots"] == "16"
    _, out, _ = qllm(live, "models", "extensions", model_id)
    assert re.search(r"on\s+memory\s+.*memory_slots=16", out), out
    code, out, err = qllm(live, "train", "--model", model_id, "--steps", "2", "--follow")
    assert code == 0, err
    job_id = re.search(r"(job-[0-9a-f]+)", out)
    assert job_id is not None, out
    _, out, _ = qllm(live, "--json", "jobs", "show", job_id.group(1))
    assert json.loads(out)["extensions"] == {"memory": "True", "memory_slots": "16"}

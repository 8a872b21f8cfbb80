"""The run command's restart policy for worker processes (pure: times are passed in)."""

from __future__ import annotations

from compose.serve import Restarts, services
from compose.settings import Settings


def test_pauses_grow_and_are_capped() -> None:
    policy = Restarts(limit=10, window_s=1000.0, max_pause_s=8.0)
    pauses = [policy.pause_after_exit(float(t)) for t in range(6)]
    assert pauses == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_worker_that_keeps_dying_is_given_up_on() -> None:
    policy = Restarts(limit=3, window_s=60.0)
    assert [policy.pause_after_exit(t) for t in (0.0, 1.0, 2.0)] == [1.0, 2.0, 4.0]
    assert policy.pause_after_exit(3.0) is None  # a fourth exit within the window: broken


def test_exits_far_apart_are_each_a_fresh_start() -> None:
    policy = Restarts(limit=2, window_s=60.0)
    assert policy.pause_after_exit(0.0) == 1.0
    assert policy.pause_after_exit(30.0) == 2.0
    assert policy.pause_after_exit(70.0) == 2.0  # the exit at 0 s has left the window
    assert policy.pause_after_exit(200.0) == 1.0


def test_workers_are_restarted_and_the_api_is_not() -> None:
    restart = {s.name: s.restart for s in services(Settings())}
    assert restart == {"api": False, "streams": True, "workers": True}


def test_the_api_runs_the_configured_number_of_worker_processes() -> None:
    for workers in (1, 3):
        (api,) = [s for s in services(Settings(api_workers=workers)) if s.name == "api"]
        assert api.argv[api.argv.index("--workers") + 1] == str(workers)

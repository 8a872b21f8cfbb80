"""What a partition may commit while long work is in flight (pure bookkeeping)."""

from __future__ import annotations

from consumers.offsets import OffsetTracker


def test_nothing_is_committable_before_a_message_is_done() -> None:
    tracker = OffsetTracker()
    tracker.begin("p0", 0)
    assert tracker.position("p0") == 0
    assert tracker.pending() == {"p0": 0}  # committing 0 commits nothing past the message


def test_finished_messages_commit_one_past_the_highest() -> None:
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.begin("p0", offset)
        tracker.done("p0", offset)
    assert tracker.pending() == {"p0": 8}


def test_a_running_job_holds_the_partition_at_its_own_offset() -> None:
    tracker = OffsetTracker()
    tracker.begin("p0", 3)  # StartTraining, running
    for offset in (4, 5):  # control commands read meanwhile
        tracker.begin("p0", offset)
        tracker.done("p0", offset)
    assert tracker.position("p0") == 3
    tracker.done("p0", 3)
    assert tracker.position("p0") == 6


def test_committed_positions_are_not_offered_again() -> None:
    tracker = OffsetTracker()
    tracker.begin("p0", 0)
    tracker.done("p0", 0)
    tracker.committed(tracker.pending())
    assert tracker.pending() == {}


def test_work_finishing_after_its_partition_was_revoked_is_ignored() -> None:
    tracker = OffsetTracker()
    tracker.begin("p0", 9)
    tracker.forget("p0")
    tracker.done("p0", 9)
    assert tracker.position("p0") is None and tracker.pending() == {}

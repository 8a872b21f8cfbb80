"""compose.heap: start-up objects are frozen once per process, so a full collection skips them."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_full_collection_after_the_freeze_scans_only_what_was_made_since() -> None:
    # a fresh interpreter: freezing this test process would outlive the test
    script = textwrap.dedent(
        """
        import gc, sys
        from compose.heap import freeze_startup_heap
        startup = [[i] for i in range(50_000)]  # long-lived start-up objects
        frozen = freeze_startup_heap("test")
        assert frozen >= 50_000, frozen
        assert freeze_startup_heap("test again", young_threshold=12345) == frozen  # once
        assert gc.get_threshold() == (12345, 20, 20)
        assert len(gc.get_objects()) < 50_000, len(gc.get_objects())  # the scanned ones
        later = [[i] for i in range(10)]
        cycle = [later]
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # garbage made after the freeze is still collected
        print("ok", frozen)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")

"""The consumers' error hierarchy; each error carries the offending value."""

from __future__ import annotations

from typing import Any


class ConsumerError(Exception):
    """Base of every error raised by ``consumers``."""


class Poison(ConsumerError):
    """A message that cannot be decoded or applied: it goes to the dead letter, the loop goes on."""

    def __init__(self, error: str, reason: str, value: Any = None) -> None:
        super().__init__(f"{error}: {reason}")
        self.error, self.reason, self.value = error, reason, value


class StreamFenced(ConsumerError):
    """Another writer appended to a stream this worker was writing (a zombie is fenced off)."""

    def __init__(self, stream_id: str, seq: int) -> None:
        super().__init__(f"stream {stream_id} already holds another event at seq {seq}")
        self.stream_id, self.seq = stream_id, seq


class JobError(ConsumerError):
    """An error in the job itself (NaN loss, bad data): it spends the job's retry budget."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id}: {reason}")
        self.job_id, self.reason = job_id, reason


class ModelNotFound(ConsumerError):
    """An inference request names a model with no checkpoint and no preset."""

    def __init__(self, model_id: str) -> None:
        super().__init__(f"no checkpoint or preset for model {model_id!r}")
        self.model_id = model_id


class OverBudget(ConsumerError):
    """A model that alone is larger than the inference memory budget."""

    def __init__(self, model_id: str, size: int, budget: int) -> None:
        super().__init__(f"model {model_id!r} needs {size} bytes, budget is {budget}")
        self.model_id, self.size, self.budget = model_id, size, budget

"""Every legal and illegal transition of the model and QRAF-state lifecycles."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from schemas import models, states
from schemas.errors import IllegalTransition, UnknownEvent
from schemas.models import ModelState
from schemas.models import ModelStatus as M
from schemas.records import Command, command
from schemas.states import QraftState
from schemas.states import StateStatus as T

MODEL_PAYLOADS: dict[type[Command], dict[str, Any]] = {
    models.RegisterModel: {"owner": "ann", "preset": "tiny"},
    models.RetireModel: {"reason": "old"},
    models.BeginModelTraining: {"job_id": "job-1"},
    models.PublishCheckpoint: {"job_id": "job-1", "checkpoint_uri": "file:///c", "step": 9},
    models.AbandonModelTraining: {"job_id": "job-1", "reason": "failed"},
    models.UpdateModel: {"description": "new", "tags": ["a"]},
    models.ConfigureModelExtension: {"extension": "memory", "enabled": True},
}
MODEL_LEGAL: dict[tuple[M, type[Command]], tuple[type[models.Event], M]] = {
    (M.ABSENT, models.RegisterModel): (models.ModelRegistered, M.REGISTERED),
    (M.REGISTERED, models.BeginModelTraining): (models.ModelTrainingStarted, M.TRAINING),
    (M.READY, models.BeginModelTraining): (models.ModelTrainingStarted, M.TRAINING),
    (M.TRAINING, models.PublishCheckpoint): (models.ModelCheckpointPublished, M.READY),
    (M.TRAINING, models.AbandonModelTraining): (models.ModelTrainingAbandoned, M.REGISTERED),
    (M.REGISTERED, models.RetireModel): (models.ModelRetired, M.RETIRED),
    (M.READY, models.RetireModel): (models.ModelRetired, M.RETIRED),
    **{
        (s, models.UpdateModel): (models.ModelUpdated, s)
        for s in (M.REGISTERED, M.TRAINING, M.READY)
    },
    **{
        (s, models.ConfigureModelExtension): (models.ModelExtensionConfigured, s)
        for s in (M.REGISTERED, M.TRAINING, M.READY)
    },
}
STATE_PAYLOADS: dict[type[Command], dict[str, Any]] = {
    states.CreateState: {"owner": "ann", "dimension": 64},
    states.ApplyStateOperation: {"operation": "quantize", "params": {"bits": 4.0}},
    states.CompleteStateOperation: {"operation": "quantize", "metrics": {"error": 0.01}},
    states.FailStateOperation: {"operation": "quantize", "reason": "diverged"},
    states.DeleteState: {},
}
STATE_LEGAL: dict[tuple[T, type[Command]], tuple[type[states.Event], T]] = {
    (T.ABSENT, states.CreateState): (states.StateCreated, T.READY),
    (T.READY, states.ApplyStateOperation): (states.StateOperationStarted, T.APPLYING),
    (T.APPLYING, states.CompleteStateOperation): (states.StateOperationApplied, T.READY),
    (T.APPLYING, states.FailStateOperation): (states.StateOperationFailed, T.READY),
    (T.READY, states.DeleteState): (states.StateDeleted, T.DELETED),
}


def _model(status: M) -> ModelState:
    job = "job-1" if status == M.TRAINING else None
    return ModelState(model_id="m1", version=2, status=status, training_job_id=job)


def _qstate(status: T) -> QraftState:
    operation = "quantize" if status == T.APPLYING else None
    return QraftState(state_id="s1", version=2, status=status, operation=operation)


def _ids(value: object) -> str:
    return str(getattr(value, "__name__", value))


@pytest.mark.parametrize(("status", "cls"), list(MODEL_LEGAL), ids=_ids)
def test_legal_model_transition(status: M, cls: type[Command]) -> None:
    state = _model(status)
    events = models.decide(state, command(cls, "m1", "ann", **MODEL_PAYLOADS[cls]))
    event_type, after = MODEL_LEGAL[(status, cls)]
    assert [type(e) for e in events] == [event_type]
    assert models.evolve(state, events[0]).status == after


@pytest.mark.parametrize(
    ("status", "cls"), [p for p in product(M, MODEL_PAYLOADS) if p not in MODEL_LEGAL], ids=_ids
)
def test_illegal_model_transition_is_rejected(status: M, cls: type[Command]) -> None:
    with pytest.raises(IllegalTransition):
        models.decide(_model(status), command(cls, "m1", "ann", **MODEL_PAYLOADS[cls]))


def test_checkpoint_from_another_job_than_the_training_one_is_rejected() -> None:
    cmd = command(models.PublishCheckpoint, "m1", "w", job_id="job-2", checkpoint_uri="x", step=1)
    with pytest.raises(IllegalTransition):
        models.decide(_model(M.TRAINING), cmd)


def test_abandoned_training_of_a_model_with_a_checkpoint_returns_it_to_ready() -> None:
    state = ModelState(status=M.TRAINING, training_job_id="job-1", checkpoint_uri="file:///c")
    cmd = command(models.AbandonModelTraining, "m1", "w", job_id="job-1", reason="cancelled")
    [event] = models.decide(state, cmd)
    assert models.evolve(state, event).status == M.READY


def _fold(state: ModelState, cls: type[Command], **payload: Any) -> ModelState:
    for event in models.decide(state, command(cls, "m1", "ann", **payload)):
        state = models.evolve(state, event)
    return state


def test_update_changes_only_the_named_metadata_and_states_the_result_in_full() -> None:
    state = ModelState(model_id="m1", status=M.READY, description="old", tags=["x"])
    [event] = models.decide(state, command(models.UpdateModel, "m1", "ann", tags=["b", "a", "b"]))
    assert isinstance(event, models.ModelUpdated)
    assert (event.description, event.tags) == ("old", ["b", "a"])
    after = _fold(state, models.UpdateModel, description="new")
    assert (after.description, after.tags, after.status) == ("new", ["x"], M.READY)


def test_configuring_an_extension_merges_settings_and_switches_it() -> None:
    state = _model(M.READY)
    on = _fold(state, models.ConfigureModelExtension, extension="memory", enabled=True,
               settings={"memory_slots": "64"})  # fmt: skip
    assert on.enabled_extensions == ["memory"]
    tuned = _fold(on, models.ConfigureModelExtension, extension="memory", enabled=True,
                  settings={"memory_top_k": "2"})  # fmt: skip
    assert tuned.extension_settings["memory"] == {"memory_slots": "64", "memory_top_k": "2"}
    off = _fold(tuned, models.ConfigureModelExtension, extension="memory", enabled=False)
    assert off.enabled_extensions == []
    assert off.extension_settings["memory"] == {"memory_slots": "64", "memory_top_k": "2"}


def test_a_training_job_carries_the_enabled_extensions_and_their_settings_only() -> None:
    state = _model(M.READY)
    assert models.training_extensions(state) == {}
    state = _fold(state, models.ConfigureModelExtension, extension="memory", enabled=True,
                  settings={"memory_slots": "64"})  # fmt: skip
    state = _fold(state, models.ConfigureModelExtension, extension="observer", enabled=True)
    state = _fold(state, models.ConfigureModelExtension, extension="multimodal", enabled=False,
                  settings={"image_dim": "8"})  # fmt: skip
    assert models.training_extensions(state) == {
        "memory": "True", "memory_slots": "64", "observer": "True"
    }  # fmt: skip
    state = _fold(state, models.ConfigureModelExtension, extension="memory", enabled=False)
    assert models.training_extensions(state) == {"observer": "True"}


@pytest.mark.parametrize(("status", "cls"), list(STATE_LEGAL), ids=_ids)
def test_legal_state_transition(status: T, cls: type[Command]) -> None:
    state = _qstate(status)
    events = states.decide(state, command(cls, "s1", "ann", **STATE_PAYLOADS[cls]))
    event_type, after = STATE_LEGAL[(status, cls)]
    assert [type(e) for e in events] == [event_type]
    assert states.evolve(state, events[0]).status == after


@pytest.mark.parametrize(
    ("status", "cls"), [p for p in product(T, STATE_PAYLOADS) if p not in STATE_LEGAL], ids=_ids
)
def test_illegal_state_transition_is_rejected(status: T, cls: type[Command]) -> None:
    with pytest.raises(IllegalTransition):
        states.decide(_qstate(status), command(cls, "s1", "ann", **STATE_PAYLOADS[cls]))


def test_unknown_operation_is_rejected() -> None:
    cmd = command(states.ApplyStateOperation, "s1", "ann", operation="teleport")
    with pytest.raises(IllegalTransition):
        states.decide(_qstate(T.READY), cmd)


def test_completion_of_another_operation_than_the_applying_one_is_rejected() -> None:
    cmd = command(states.CompleteStateOperation, "s1", "w", operation="compress_memory")
    with pytest.raises(IllegalTransition):
        states.decide(_qstate(T.APPLYING), cmd)


def test_state_evolve_refuses_an_operation_result_when_nothing_is_applying() -> None:
    cmd = command(states.CompleteStateOperation, "s1", "w", operation="quantize")
    [applied] = states.decide(_qstate(T.APPLYING), cmd)
    with pytest.raises(UnknownEvent):
        states.evolve(_qstate(T.READY), applied)

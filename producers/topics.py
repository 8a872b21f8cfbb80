"""DESIGN.md's topic table: which record goes to which topic, under which key, and provisioning.

Keys: a record's ``stream_id`` (job, model or state id; request id for results), except
the inference commands (``RunInference``, ``CancelInference``, ``LoadModel``, ``UnloadModel``),
keyed by ``model_id`` so one model's requests, loads and cancels meet in one partition.
Worker-internal commands (``ClaimJob`` …) have no topic: workers decide them in-process.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from compose.settings import Settings
from producers.errors import NoTopicFor
from schemas import inference, jobs, models, states
from schemas.records import Record


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    carries: tuple[type[Record], ...]


TRAINING = "qllm.commands.training"
INFERENCE = "qllm.commands.inference"
KERNELS = "qllm.commands.kernels"
MODEL_COMMANDS = "qllm.commands.models"
JOB_EVENTS = "qllm.events.jobs"
MODEL_EVENTS = "qllm.events.models"
STATE_EVENTS = "qllm.events.states"
RESULTS = "qllm.results.inference"
DEADLETTER = "qllm.deadletter"
EVENT_TOPICS = (JOB_EVENTS, MODEL_EVENTS, STATE_EVENTS)

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        TRAINING,
        6,
        (jobs.StartTraining, jobs.CancelJob, jobs.PauseJob, jobs.ResumeJob, jobs.ForceCheckpoint),
    ),
    TopicSpec(INFERENCE, 6, inference.COMMANDS),
    TopicSpec(KERNELS, 6, (states.CreateState, states.ApplyStateOperation, states.DeleteState)),
    TopicSpec(
        MODEL_COMMANDS,
        3,
        (
            models.RegisterModel,
            models.RetireModel,
            models.UpdateModel,
            models.ConfigureModelExtension,
        ),
    ),
    TopicSpec(JOB_EVENTS, 6, jobs.EVENTS),
    TopicSpec(MODEL_EVENTS, 3, models.EVENTS),
    TopicSpec(STATE_EVENTS, 6, states.EVENTS),
    TopicSpec(RESULTS, 6, inference.RESULTS),
    TopicSpec(DEADLETTER, 1, ()),
)
_TOPIC_OF: dict[type[Record], str] = {cls: spec.name for spec in TOPICS for cls in spec.carries}


def topic_for(record: Record, settings: Settings) -> str:
    """The configured topic name that carries ``record``."""
    name = _TOPIC_OF.get(type(record))
    if name is None:
        raise NoTopicFor(type(record).__name__)
    return settings.topic(name)


def key_for(record: Record) -> bytes:
    if isinstance(record, inference.COMMANDS):
        return record.model_id.encode()  # type: ignore[attr-defined]
    return record.stream_id.encode()


async def provision(settings: Settings, replication: int = 1, timeout_s: float = 30.0) -> list[str]:
    """Create every topic of the table that does not exist yet; return the ones created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(settings.topic(spec.name), spec.partitions, replication)
            for spec in TOPICS
            if settings.topic(spec.name) not in existing
        ]
        if wanted:
            # another process may provision concurrently: an existing topic is the goal reached
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
        return [topic.name for topic in wanted]
    finally:
        await admin.close()

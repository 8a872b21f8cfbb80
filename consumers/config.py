"""Worker options that are not platform-wide (``QLLM_WORKER_*``), passed explicitly.

Built once at start-up next to ``compose.settings.Settings``; nothing reads the environment at
import. Defaults suit the single-machine stack: tiny batches, short timeouts, local folders.
"""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QLLM_WORKER_", extra="ignore")

    worker_id: str = Field(default_factory=_worker_id)
    group_prefix: str = "qllm-"  # group ids: <topic_prefix><group_prefix>training|inference|kernels
    session_timeout_ms: int = Field(10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(2_000, ge=100)
    max_poll_interval_ms: int = Field(300_000, ge=10_000)
    # how long the group waits for a member's revoke (its jobs checkpoint and stop) before
    # dropping it; aiokafka's default (the session timeout) dropped busy members mid-revoke
    rebalance_timeout_ms: int = Field(60_000, ge=1_000)
    poll_timeout_ms: int = Field(200, ge=1)
    # how long the broker may hold a fetch that finds no data. aiokafka leaves partitions with
    # buffered records out of its next fetch, so with one busy partition (an inference model's
    # commands share a key) that fetch asks only for idle ones and its wait is pure added
    # latency; aiokafka's default is 500 ms (streams/transport.py: the same floor in Faust)
    fetch_max_wait_ms: int = Field(25, ge=1)
    max_poll_records: int = Field(256, ge=1)
    retry_attempts: int = Field(5, ge=1)  # retriable errors before the worker exits

    # training
    checkpoint_url: str = ".qllm/checkpoints"  # a local folder or any fsspec URL
    checkpoint_every: int = Field(10, ge=1)
    progress_every: int = Field(1, ge=1)
    progress_flush_ms: float = Field(
        100.0, ge=0
    )  # step events batched per append, at most this late
    batch_size: int = Field(8, ge=1)
    seq_len: int = Field(64, ge=8)
    corpus_documents: int = Field(40, ge=2)
    eval_tokens: int = Field(512, ge=16)
    device: str | None = None  # None: CUDA when present, else CPU
    # torch's intra-op threads in a worker process (0: torch's default, one per core). One: on
    # the 2-core machine the tiny and small presets served 1.5-2.3x more requests in process
    # with one thread than with two (tests/benchmarks/consumers.md); the event loop, the Kafka
    # clients and the model's threads share the cores. Scale a CPU deployment with processes.
    torch_threads: int = Field(1, ge=0)

    # kernels
    state_dir: str = ".qllm/states"

    # inference
    model_root: str = ""  # "" → <checkpoint_url>/models
    max_batch_size: int = Field(16, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)
    memory_budget_mb: float = Field(512.0, gt=0)
    continuous_batching: bool = True
    stream_interval_ms: float = Field(25.0, ge=0)  # streamed text coalesced into chunks this long

    def group(self, topic_prefix: str, role: str) -> str:
        return f"{topic_prefix}{self.group_prefix}{role}"

    def models_root(self) -> str:
        return self.model_root or f"{self.checkpoint_url.rstrip('/')}/models"

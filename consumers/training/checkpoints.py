"""Where checkpoints live: a local folder by default, any fsspec URL for object stores.

The trainer writes checkpoints to a local working folder (``model.checkpoint`` is local-file
code); for a remote URL this module mirrors each finished checkpoint there and fetches the newest
one back before a job resumes on another machine. With a local folder (the default) the working
folder *is* the store and nothing is copied.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from model import latest_checkpoint
from model.checkpoint import checkpoint_step


class CheckpointStore:
    def __init__(self, url: str, cache_dir: str | None = None) -> None:
        self.url = url.rstrip("/")
        fs, root = fsspec.core.url_to_fs(self.url)
        self._fs: Any = fs
        self._root: str = root
        self.is_local = isinstance(fs, LocalFileSystem)
        base = Path(root) if self.is_local else Path(cache_dir or tempfile.mkdtemp(prefix="qllm-"))
        self._local = base

    def workdir(self, job_id: str) -> Path:
        return self._local / "jobs" / job_id

    def _remote(self, *parts: str) -> str:
        return "/".join([self._root, *parts])

    def uri(self, *parts: str) -> str:
        if self.is_local:
            return str(self._local.joinpath(*parts))
        protocol = (
            self._fs.protocol[0] if isinstance(self._fs.protocol, tuple) else self._fs.protocol
        )
        return f"{protocol}://{self._remote(*parts).lstrip('/')}"

    def fetch_latest(self, job_id: str, at_most: int | None = None) -> Path | None:
        """The newest checkpoint of ``job_id`` (of a step no later than ``at_most`` if given),
        downloaded into its working folder if remote."""
        local = self.workdir(job_id)
        if not self.is_local:
            remote = self._remote("jobs", job_id)
            if self._fs.exists(remote):
                steps = sorted(
                    p for p in self._fs.ls(remote, detail=False)
                    if "step-" in p and (at_most is None or checkpoint_step(p) <= at_most)
                )  # fmt: skip
                if steps:
                    name = steps[-1].rstrip("/").rsplit("/", 1)[-1]
                    if not (local / name).is_dir():
                        self._fs.get(steps[-1], str(local / name), recursive=True)
        return latest_checkpoint(local, at_most)

    def push(self, job_id: str, checkpoint: Path) -> str:
        """Make ``checkpoint`` durable in the store; its URI."""
        if not self.is_local:
            self._fs.put(str(checkpoint), self._remote("jobs", job_id, checkpoint.name),
                         recursive=True)  # fmt: skip
        return self.uri("jobs", job_id, checkpoint.name)

    def publish_model(self, model_id: str, checkpoint: Path) -> str:
        """Copy a finished checkpoint to ``models/<model_id>`` (what the batcher loads)."""
        if self.is_local:
            target = self._local / "models" / model_id
            tmp = target.with_name(target.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(checkpoint, tmp)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
        else:
            self._fs.put(str(checkpoint), self._remote("models", model_id), recursive=True)
        return self.uri("models", model_id)

"""Where ``qllm`` keeps who you are: ``$QLLM_CONFIG_DIR`` or ``~/.config/qllm`` (XDG respected).

``credentials.json`` holds the API URL and either a JWT pair or an API key. It is created with
mode 600 inside a 700 folder and rewritten atomically (a refreshed pair replaces the old one), so
no other user can read it and a crash never leaves half a file. ``QLLM_URL`` and ``QLLM_API_KEY``
override what is stored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sdk.auth import ApiKeyAuth, Auth, Tokens

DEFAULT_URL = "http://127.0.0.1:8000"


def config_dir() -> Path:
    if explicit := os.environ.get("QLLM_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "qllm"


@dataclass(frozen=True)
class Profile:
    url: str = DEFAULT_URL
    tokens: Tokens | None = None
    api_key: str | None = None

    @property
    def auth(self) -> Auth | None:
        if self.api_key:
            return ApiKeyAuth(self.api_key)
        return self.tokens

    def with_tokens(self, tokens: Tokens) -> Profile:
        return replace(self, tokens=tokens, api_key=None)


def path() -> Path:
    return config_dir() / "credentials.json"


def load(url: str | None = None) -> Profile:
    """The stored profile, with ``url``/``QLLM_URL`` and ``QLLM_API_KEY`` applied on top."""
    try:
        raw: dict[str, Any] = json.loads(path().read_text())
    except (OSError, ValueError):
        raw = {}
    tokens = Tokens(**raw["tokens"]) if isinstance(raw.get("tokens"), dict) else None
    stored = Profile(raw.get("url") or DEFAULT_URL, tokens, raw.get("api_key"))
    chosen = url or os.environ.get("QLLM_URL") or stored.url
    env_key = os.environ.get("QLLM_API_KEY")
    return replace(stored, url=chosen.rstrip("/"), api_key=env_key or stored.api_key)


def save(profile: Profile) -> Path:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    body = {"url": profile.url, "api_key": profile.api_key,
            "tokens": profile.tokens.to_dict() if profile.tokens else None}  # fmt: skip
    temporary = folder / "credentials.json.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(body, out)
    os.replace(temporary, path())
    return path()


def forget() -> bool:
    try:
        path().unlink()
    except FileNotFoundError:
        return False
    return True

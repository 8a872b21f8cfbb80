"""THE permissions table: roles, permissions, and which role holds which.

This module is the single declaration routes reference (``require(Permission.JOBS_WRITE)``); it
is pure data. Roles nest: readonly ⊂ user ⊂ trainer ⊂ admin. A trainer's write permissions are
further narrowed to what it owns (``ownership.can_manage``); an admin manages everything.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    ADMIN = "admin"
    TRAINER = "trainer"
    USER = "user"
    READONLY = "readonly"


class Permission(StrEnum):
    PROFILE_READ = "profile:read"
    SYSTEM_READ = "system:read"
    MODELS_READ = "models:read"
    DATASETS_READ = "datasets:read"
    JOBS_READ = "jobs:read"
    CONFIGS_READ = "configs:read"
    EXTENSIONS_READ = "extensions:read"
    STATES_READ = "states:read"
    INFERENCE_RUN = "inference:run"
    QRAF_RUN = "qraf:run"
    MODELS_WRITE = "models:write"
    DATASETS_WRITE = "datasets:write"
    JOBS_WRITE = "jobs:write"
    EXTENSIONS_WRITE = "extensions:write"
    KEYS_ADMIN = "keys:admin"
    USERS_ADMIN = "users:admin"
    SYSTEM_ADMIN = "system:admin"


PUBLIC = "public"  # what a route declares when it needs no credentials (health, login, docs)

_READONLY = frozenset(
    {
        Permission.PROFILE_READ,
        Permission.SYSTEM_READ,
        Permission.MODELS_READ,
        Permission.DATASETS_READ,
        Permission.JOBS_READ,
        Permission.CONFIGS_READ,
        Permission.EXTENSIONS_READ,
        Permission.STATES_READ,
    }
)
_USER = _READONLY | {Permission.INFERENCE_RUN, Permission.QRAF_RUN}
_TRAINER = _USER | {
    Permission.MODELS_WRITE,
    Permission.DATASETS_WRITE,
    Permission.JOBS_WRITE,
    Permission.EXTENSIONS_WRITE,
}
_ADMIN = frozenset(Permission)

ROLE_PERMISSIONS: MappingProxyType[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.READONLY: frozenset(_READONLY),
        Role.USER: frozenset(_USER),
        Role.TRAINER: frozenset(_TRAINER),
        Role.ADMIN: _ADMIN,
    }
)


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]

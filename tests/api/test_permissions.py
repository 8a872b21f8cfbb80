"""The permissions table and the ownership rule, as pure functions."""

from __future__ import annotations

import pytest

from api.auth.ownership import can_manage, ensure_can_manage
from api.auth.permissions import ROLE_PERMISSIONS, Permission, Role, allows
from api.auth.principal import Principal
from api.errors import PermissionDenied


def _who(role: Role, subject: str = "alice") -> Principal:
    return Principal(subject, role, "user", "standard")


def test_roles_nest_readonly_user_trainer_admin() -> None:
    table = ROLE_PERMISSIONS
    assert table[Role.READONLY] < table[Role.USER] < table[Role.TRAINER] < table[Role.ADMIN]
    assert table[Role.ADMIN] == frozenset(Permission)


def test_only_admin_administers_keys_users_and_the_system() -> None:
    for permission in (Permission.KEYS_ADMIN, Permission.USERS_ADMIN, Permission.SYSTEM_ADMIN):
        assert [r for r in Role if allows(r, permission)] == [Role.ADMIN]


def test_readonly_cannot_run_inference_and_user_cannot_write_jobs() -> None:
    assert not allows(Role.READONLY, Permission.INFERENCE_RUN)
    assert allows(Role.USER, Permission.INFERENCE_RUN)
    assert not allows(Role.USER, Permission.JOBS_WRITE)
    assert allows(Role.TRAINER, Permission.JOBS_WRITE)


def test_trainer_manages_what_it_owns() -> None:
    assert can_manage(_who(Role.TRAINER), "alice", Permission.JOBS_WRITE)


def test_trainer_does_not_manage_what_another_owns() -> None:
    assert not can_manage(_who(Role.TRAINER), "bob", Permission.JOBS_WRITE)
    with pytest.raises(PermissionDenied) as caught:
        ensure_can_manage(_who(Role.TRAINER), "bob", Permission.JOBS_WRITE, "job j-1")
    assert caught.value.details == {
        "resource": "job j-1",
        "owner": "bob",
        "permission": "jobs:write",
    }


def test_admin_manages_everything() -> None:
    assert can_manage(_who(Role.ADMIN), "bob", Permission.MODELS_WRITE)


def test_user_does_not_manage_even_what_it_owns_without_the_write_permission() -> None:
    assert not can_manage(_who(Role.USER), "alice", Permission.MODELS_WRITE)

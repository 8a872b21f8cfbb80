"""Who may manage a resource: an admin manages everything, a trainer only what it owns.

Pure functions; resource routes (models, jobs, datasets) call ``ensure_can_manage`` with the
owner recorded on the resource after ``require(<kind>:write)`` has passed.
"""

from __future__ import annotations

from api.auth.permissions import Permission, Role, allows
from api.auth.principal import Principal
from api.errors import PermissionDenied


def can_manage(principal: Principal, owner: str, permission: Permission) -> bool:
    if principal.role is Role.ADMIN:
        return True
    return allows(principal.role, permission) and principal.subject == owner


def ensure_can_manage(
    principal: Principal, owner: str, permission: Permission, resource: str
) -> None:
    if not can_manage(principal, owner, permission):
        raise PermissionDenied(
            f"{principal.subject} may not manage {resource}",
            details={"resource": resource, "owner": owner, "permission": permission.value},
        )

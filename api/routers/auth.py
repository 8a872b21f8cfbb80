"""Login, token refresh and "who am I".

Login and refresh are public (they are how credentials are obtained). A failed login is counted
per username and per client address (``auth.lockout``); unknown users and wrong passwords get the
same 401 after the same amount of work, so the answer does not reveal which usernames exist.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.auth.passwords import verify_password_async
from api.auth.permissions import ROLE_PERMISSIONS, Permission, Role
from api.auth.principal import Principal, client_address, public, require, resources_of
from api.auth.tokens import TokenPair
from api.errors import InvalidCredentials, InvalidToken
from api.resources import Resources

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = {
        "json_schema_extra": {"examples": [{"username": "alice", "password": "a long passphrase"}]}
    }
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> Tokens:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            refresh_expires_in=pair.refresh_expires_in,
        )


class Me(BaseModel):
    subject: str
    role: Role
    kind: str
    tier: str
    key_id: str | None
    permissions: list[str]


@router.post(
    "/login",
    response_model=Tokens,
    dependencies=[Depends(public)],
    summary="Exchange a username and password for access and refresh tokens",
    responses={
        401: {"description": "bad credentials"},
        429: {"description": "locked out after repeated failures"},
    },
)
async def login(body: LoginRequest, request: Request) -> Tokens:
    resources = resources_of(request)
    user_scope, ip_scope = f"user:{body.username}", f"ip:{client_address(request)}"
    await resources.user_lockout.check(user_scope)
    await resources.ip_lockout.check(ip_scope)
    user = await (await resources.auth_store()).get_user(body.username)
    stored = user.password_hash if user is not None and not user.disabled else None
    if not await verify_password_async(body.password, stored) or user is None:
        await resources.user_lockout.failed(user_scope)
        await resources.ip_lockout.failed(ip_scope)
        raise InvalidCredentials("invalid username or password")
    await resources.user_lockout.succeeded(user_scope)
    return Tokens.of(resources.tokens.issue(user.username, user.role))


async def _burn(resources: Resources, jti: str, family: str, ttl_s: int) -> None:
    """Mark a refresh token used; a second use revokes its whole family (token theft)."""
    prefix = resources.config.redis_prefix
    family_key = f"{prefix}refresh:revoked:{family}"
    if await resources.redis.exists(family_key):
        raise InvalidToken("refresh token family revoked", details={"reason": "revoked"})
    first_use = await resources.redis.set(
        f"{prefix}refresh:used:{jti}", "1", nx=True, ex=max(ttl_s, 1)
    )
    if not first_use:
        await resources.redis.set(family_key, "1", ex=resources.config.refresh_ttl_s)
        raise InvalidToken("refresh token reused", details={"reason": "reused"})


@router.post(
    "/refresh",
    response_model=Tokens,
    dependencies=[Depends(public)],
    summary="Rotate a refresh token into a new token pair",
)
async def refresh(body: RefreshRequest, request: Request) -> Tokens:
    resources = resources_of(request)
    claims = resources.tokens.decode(body.refresh_token, "refresh")
    family = claims.family or claims.jti
    await _burn(resources, claims.jti, family, claims.expires_at - int(time.time()))
    user = await (await resources.auth_store()).get_user(claims.subject)
    if user is None or user.disabled:
        raise InvalidToken("user no longer active", details={"reason": "inactive"})
    return Tokens.of(resources.tokens.issue(user.username, user.role, family))


@router.get("/me", response_model=Me, summary="The caller's identity, role and permissions")
async def me(principal: Annotated[Principal, Depends(require(Permission.PROFILE_READ))]) -> Me:
    granted = sorted(p.value for p in ROLE_PERMISSIONS[principal.role])
    return Me(
        subject=principal.subject,
        role=principal.role,
        kind=principal.kind,
        tier=principal.tier,
        key_id=principal.key_id,
        permissions=granted,
    )

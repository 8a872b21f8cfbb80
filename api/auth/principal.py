"""Who is calling, and the dependency every route uses to declare what it needs.

``require(Permission.X)`` authenticates (Bearer access token, else ``X-API-Key``), answers 401
for missing or bad credentials and 403 for a known identity without the permission, then counts
the request against the caller's rate tier (429 past it). ``public`` is what routes that need no
credentials declare instead, so every route states its requirement (``required_permission``).

The API-key hot path is one Redis round trip and, usually, no Cassandra read: the key record
comes from the in-process ``KeyCache`` (revocation bound: its TTL), and the bad-key lockout of
the caller's address is checked inside the rate-limit script (``lock_keys``). A key that fails
to verify takes the slow path: a separate lockout check, then the failure counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import api_keys
from api.auth.permissions import PUBLIC, Permission, Role, allows
from api.errors import InvalidApiKey, NotAuthenticated, PermissionDenied
from api.observability.context import extra_response_headers
from api.ratelimit import Read
from api.resources import Resources

_bearer = HTTPBearer(auto_error=False, description="JWT access token from /api/v1/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


@dataclass(frozen=True)
class Principal:
    subject: str  # the identity resources are owned by: a username, or the key's owner
    role: Role
    kind: Literal["user", "api_key"]
    tier: str
    key_id: str | None = None
    lock_keys: tuple[str, ...] = ()  # checked with the rate limit: locked → 429 locked_out

    @property
    def rate_key(self) -> str:
        return f"key:{self.key_id}" if self.key_id else f"user:{self.subject}"


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _from_token(resources: Resources, token: str) -> Principal:
    claims = resources.tokens.decode(token, "access")
    assert claims.role is not None
    return Principal(claims.subject, claims.role, "user", resources.config.user_rate_tier)


async def _from_key(resources: Resources, request: Request, plaintext: str) -> Principal:
    address = f"ip:{client_address(request)}"
    key_id = api_keys.key_id_of(plaintext)
    record = None
    if key_id is not None:
        store = await resources.auth_store()
        record = await resources.key_cache.get(key_id, store.get_key)
    if record is None or not api_keys.matches(plaintext, record.key_hash):
        await resources.key_lockout.check(address)  # a locked address stays 429, not 401
        await resources.key_lockout.failed(address)
        raise InvalidApiKey("invalid API key")
    if record.revoked:
        raise InvalidApiKey("API key revoked", details={"key_id": record.key_id})
    lock = (resources.key_lockout.lock_key(address),)
    return Principal(record.owner, record.role, "api_key", record.tier, record.key_id, lock)


def _is_openai_path(request: Request) -> bool:
    """OpenAI clients send their key as ``Authorization: Bearer <key>``: on ``/v1`` a Bearer
    credential shaped like an API key is one."""
    return request.url.path.startswith("/v1/")


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    resources = resources_of(request)
    if bearer is not None:
        if _is_openai_path(request) and api_keys.key_id_of(bearer.credentials) is not None:
            return await _from_key(resources, request, bearer.credentials)
        return await _from_token(resources, bearer.credentials)
    if key:
        return await _from_key(resources, request, key)
    raise NotAuthenticated("credentials required: a Bearer access token or an X-API-Key")


def require(
    permission: Permission, read: Callable[[Request], Read] | None = None
) -> Callable[..., Awaitable[Principal]]:
    """The dependency of a route that needs ``permission``; it resolves to the caller.

    ``read`` names a Redis hash the route will read (from the request's path): it is read with
    the rate-limit decision, in the same round trip, and the route finds it with ``prefetched``.
    """

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        resources = resources_of(request)
        decision = await resources.rate_limiter.enforce(
            principal.rate_key, principal.tier, principal.lock_keys,
            read(request) if read is not None else None,
        )  # fmt: skip
        if read is not None:
            request.state.prefetched = decision.read
        extra_response_headers(request.scope).update(decision.headers())
        if not allows(principal.role, permission):
            raise PermissionDenied(
                f"role {principal.role.value!r} lacks permission {permission.value!r}",
                details={"role": principal.role.value, "permission": permission.value},
            )
        return principal

    dependency.required_permission = permission  # type: ignore[attr-defined]
    return dependency


def prefetched(request: Request) -> tuple[bytes | None, ...] | None:
    """The fields the route's ``require(…, read=…)`` read, or ``None`` if it asked for none."""
    row: tuple[bytes | None, ...] | None = getattr(request.state, "prefetched", None)
    return row


async def public() -> None:
    """Declares a route that needs no credentials (health, login, docs, metrics)."""


public.required_permission = PUBLIC  # type: ignore[attr-defined]

CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

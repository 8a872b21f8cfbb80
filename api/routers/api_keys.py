"""API keys: created, listed, inspected and revoked by admins (``keys:admin``).

The full key is in the creation response only; afterwards only its id is ever shown. Revocation
is immediate: every request with a key reads its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.auth import api_keys
from api.auth.permissions import Permission, Role
from api.auth.principal import Principal, require, resources_of
from api.auth.store import ApiKeyRecord, utc_now
from api.errors import NotFound, ValidationFailed

router = APIRouter(prefix="/api/v1/auth/keys", tags=["auth"])
Admin = Annotated[Principal, Depends(require(Permission.KEYS_ADMIN))]


class NewKey(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {"name": "ci-runner", "role": "trainer", "tier": "standard", "owner": "alice"}
            ]
        }
    }
    name: str = Field(min_length=1, max_length=128)
    role: Role
    tier: str = Field("standard", min_length=1, max_length=64)
    owner: str | None = Field(None, description="whose resources the key manages; default: itself")


class KeyOut(BaseModel):
    key_id: str
    name: str
    role: Role
    tier: str
    owner: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKeyRecord) -> KeyOut:
        return cls(
            key_id=key.key_id,
            name=key.name,
            role=key.role,
            tier=key.tier,
            owner=key.owner,
            created_by=key.created_by,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class CreatedKey(KeyOut):
    api_key: str = Field(description="the full key; shown this once and never again")


@router.post("", response_model=CreatedKey, status_code=201, summary="Create an API key")
async def create_key(body: NewKey, request: Request, admin: Admin) -> CreatedKey:
    resources = resources_of(request)
    if body.tier not in resources.config.rate_tiers:
        tiers = sorted(resources.config.rate_tiers)
        raise ValidationFailed(
            f"tier: unknown tier {body.tier!r}; one of {tiers}",
            details={
                "fields": [
                    {
                        "field": "tier",
                        "location": "body",
                        "message": f"one of {tiers}",
                        "type": "enum",
                    }
                ]
            },
            param="tier",
        )
    new = api_keys.generate()
    record = ApiKeyRecord(
        new.key_id,
        new.key_hash,
        body.name,
        body.role,
        body.tier,
        body.owner or f"key:{new.key_id}",
        admin.subject,
        utc_now(),
    )
    await (await resources.auth_store()).put_key(record)
    return CreatedKey(**KeyOut.of(record).model_dump(), api_key=new.plaintext)


@router.get("", response_model=list[KeyOut], summary="List API keys (without secrets)")
async def list_keys(request: Request, admin: Admin) -> list[KeyOut]:
    return [KeyOut.of(k) for k in await (await resources_of(request).auth_store()).list_keys()]


@router.get(
    "/{key_id}",
    response_model=KeyOut,
    summary="Get an API key (without its secret)",
    responses={404: {"description": "no such key"}},
)
async def get_key(key_id: str, request: Request, admin: Admin) -> KeyOut:
    key = await (await resources_of(request).auth_store()).get_key(key_id)
    if key is None:
        raise NotFound("no such API key", details={"key_id": key_id})
    return KeyOut.of(key)


@router.delete(
    "/{key_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke an API key",
    responses={404: {"description": "no such key"}},
)
async def revoke_key(key_id: str, request: Request, admin: Admin) -> Response:
    resources = resources_of(request)
    if await (await resources.auth_store()).revoke_key(key_id, utc_now()) is None:
        raise NotFound("no such API key", details={"key_id": key_id})
    resources.key_cache.forget(key_id)  # other replicas: within the cache's TTL
    return Response(status_code=204)

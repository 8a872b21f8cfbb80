"""Users: created by admins (``users:admin``); the first admin comes from settings."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.auth.passwords import hash_password_async
from api.auth.permissions import Permission, Role
from api.auth.principal import require, resources_of
from api.auth.store import User, utc_now
from api.config import MIN_ADMIN_PASSWORD
from api.errors import Conflict, NotFound

router = APIRouter(
    prefix="/api/v1/auth/users",
    tags=["auth"],
    dependencies=[Depends(require(Permission.USERS_ADMIN))],
)


class NewUser(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [{"username": "alice", "password": "a long passphrase", "role": "trainer"}]
        }
    }
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=MIN_ADMIN_PASSWORD, max_length=1024)
    role: Role


class UserOut(BaseModel):
    username: str
    role: Role
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            username=user.username,
            role=user.role,
            disabled=user.disabled,
            created_at=user.created_at,
        )


@router.post(
    "",
    response_model=UserOut,
    status_code=201,
    summary="Create a user",
    responses={409: {"description": "the username exists"}},
)
async def create_user(body: NewUser, request: Request) -> UserOut:
    store = await resources_of(request).auth_store()
    user = User(body.username, await hash_password_async(body.password), body.role, utc_now())
    if not await store.create_user(user):
        raise Conflict("username already exists", details={"username": body.username})
    return UserOut.of(user)


@router.get(
    "/{username}",
    response_model=UserOut,
    summary="Get a user",
    responses={404: {"description": "no such user"}},
)
async def get_user(username: str, request: Request) -> UserOut:
    user = await (await resources_of(request).auth_store()).get_user(username)
    if user is None:
        raise NotFound("no such user", details={"username": username})
    return UserOut.of(user)

"""The first admin, created from ``QLLM_API_ADMIN_USERNAME`` / ``QLLM_API_ADMIN_PASSWORD``.

Created only if absent (an LWT in Cassandra, so concurrent replicas agree); an existing admin's
password is never reset from the environment, so rotating it through the API sticks. Placeholder
or short passwords are refused by ``ApiConfig`` before this runs. Without a password, no admin is
created and a warning says so.
"""

from __future__ import annotations

import logging

from api.auth.passwords import hash_password_async
from api.auth.permissions import Role
from api.auth.store import AuthStore, User, utc_now
from api.config import ApiConfig

log = logging.getLogger("qllm.api.auth")


async def ensure_first_admin(store: AuthStore, config: ApiConfig) -> bool:
    """True when this call created the admin."""
    if config.admin_password is None:
        log.warning("no QLLM_API_ADMIN_PASSWORD set: no admin bootstrapped")
        return False
    if await store.get_user(config.admin_username) is not None:
        return False
    password_hash = await hash_password_async(config.admin_password.get_secret_value())
    created = await store.create_user(
        User(config.admin_username, password_hash, Role.ADMIN, utc_now())
    )
    if created:
        log.info("bootstrapped admin user %s", config.admin_username)
    return created

"""Authentication and authorization of the REST API.

- Identities: users (username + password → short-lived JWT access token and a rotating refresh
  token) and API keys (``X-API-Key``), each mapped to one role of ``permissions.ROLE_PERMISSIONS``.
- Every route declares what it needs with ``Depends(require(Permission.X))`` or ``public``.
- Users and API keys live in Cassandra (``cassandra_store``), behind the ``AuthStore`` protocol.

Deliberate choice: credentials are kept OUT of the replayable event log. Password hashes and API
key hashes are secrets at rest; an event stream is copied to every consumer, replayed by auditors
and kept forever, so a hash written there could never be revoked or erased. Auth data is
therefore plain mutable rows in its own tables, and the events of the platform only carry the
``actor`` (a username or ``key:<id>``), never a credential.
"""

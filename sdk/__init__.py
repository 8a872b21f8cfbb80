"""The QLLM Python SDK: ``Client`` and ``AsyncClient`` for the QLLM REST API.

    from sdk import Client, ApiKeyAuth
    with Client("http://127.0.0.1:8000", auth=ApiKeyAuth("qk_...")) as qllm:
        job = qllm.create_job(preset="tiny", max_steps=20)
        for event in qllm.follow_job(job.resource_id):
            print(event.event, event.data)

Errors are the tree in ``sdk.errors``; results the models in ``sdk.models``.
"""

from sdk.async_client import AsyncClient
from sdk.auth import ApiKeyAuth, Tokens
from sdk.client import Client
from sdk.errors import ApiError, QllmError
from sdk.retry import NO_RETRY, RetryPolicy

__all__ = ["NO_RETRY", "ApiError", "ApiKeyAuth", "AsyncClient", "Client", "QllmError",
           "RetryPolicy", "Tokens"]  # fmt: skip

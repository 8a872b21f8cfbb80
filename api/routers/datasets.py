"""Datasets: upload (multipart, validated line by line as it is copied), list, get, delete.

Upload answers ``201``: it is done when the response is sent (copy and validation are the whole
operation; no worker is involved). ``datasets:write`` uploads and deletes its own datasets (an
admin any); ``datasets:read`` lists and reads manifests. The store is ``api.datasets``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel

from api.auth.ownership import ensure_can_manage
from api.auth.permissions import Permission
from api.auth.principal import Principal, require, resources_of
from api.datasets import BadLine, Dataset, DatasetStore, EmptyDataset, Format, Kind, TooLarge
from api.errors import NotFound, PayloadTooLarge, ValidationFailed

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
Reader = Annotated[Principal, Depends(require(Permission.DATASETS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.DATASETS_WRITE))]
CHUNK = 256 * 1024


class DatasetOut(BaseModel):
    dataset_id: str
    name: str
    owner: str
    format: str
    kind: str
    size_bytes: int
    records: int
    created_at: str


def store_of(request: Request) -> DatasetStore:
    return DatasetStore(resources_of(request).config.data_root)


def out(dataset: Dataset) -> DatasetOut:
    return DatasetOut.model_validate(dataclasses.asdict(dataset))


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await file.read(CHUNK):
        yield chunk


@router.post(
    "",
    status_code=201,
    response_model=DatasetOut,
    summary="Upload a dataset",
    responses={
        413: {"description": "over the size limit"},
        422: {"description": "a bad line, named"},
    },
)
async def upload_dataset(
    request: Request,
    principal: Writer,
    file: Annotated[UploadFile, File(description="UTF-8 text, or JSONL (one object per line)")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    format: Annotated[Format, Form()] = "jsonl",
    kind: Annotated[Kind, Form(description="text | dialogue | empathy | function_calling")] = (
        "text"
    ),
) -> DatasetOut:
    store, limit = store_of(request), resources_of(request).config.max_dataset_bytes
    meta = {
        "dataset_id": store.new_id(),
        "name": name,
        "owner": principal.subject,
        "format": format,
        "kind": "text" if format == "text" else kind,
    }
    try:
        return out(await store.write(meta, _chunks(file), limit))
    except BadLine as exc:
        raise ValidationFailed(
            f"file: line {exc.line}: {exc.reason}",
            details={
                "fields": [
                    {
                        "field": "file",
                        "location": "body",
                        "type": "value_error",
                        "message": f"line {exc.line}: {exc.reason}",
                    }
                ],
                "line": exc.line,
                "reason": exc.reason,
            },
            param="file",
        ) from exc
    except EmptyDataset as exc:
        raise ValidationFailed(
            "file: the dataset holds no records",
            param="file",
            details={
                "fields": [
                    {
                        "field": "file",
                        "location": "body",
                        "type": "value_error",
                        "message": "no records",
                    }
                ]
            },
        ) from exc
    except TooLarge as exc:
        raise PayloadTooLarge(str(exc), details={"limit_bytes": exc.limit}) from exc


@router.get("", response_model=list[DatasetOut], summary="List datasets, newest first")
async def list_datasets(
    request: Request, principal: Reader, owner: Annotated[str | None, Query()] = None
) -> list[DatasetOut]:
    return [out(d) for d in store_of(request).all() if owner is None or d.owner == owner]


@router.get("/{dataset_id}", response_model=DatasetOut, summary="A dataset's manifest")
async def get_dataset(dataset_id: str, request: Request, principal: Reader) -> DatasetOut:
    dataset = store_of(request).get(dataset_id)
    if dataset is None:
        raise NotFound("no such dataset", details={"dataset_id": dataset_id})
    return out(dataset)


@router.delete(
    "/{dataset_id}", status_code=204, response_class=Response, summary="Delete a dataset"
)
async def delete_dataset(dataset_id: str, request: Request, principal: Writer) -> Response:
    store = store_of(request)
    dataset = store.get(dataset_id)
    if dataset is None:
        raise NotFound("no such dataset", details={"dataset_id": dataset_id})
    ensure_can_manage(principal, dataset.owner, Permission.DATASETS_WRITE, f"dataset {dataset_id}")
    store.delete(dataset_id)
    return Response(status_code=204)

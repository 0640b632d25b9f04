"""Maintainers add a policy file to the corpus over HTTP (then re-index with POST /api/index/reindex)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from assistant.api.deps import AssistantDep
from assistant.api.routes_review import MaintainerDep, require_maintainer
from assistant.load.upload import UploadRejected, accept_upload

router = APIRouter(prefix="/api/index", tags=["maintenance"], dependencies=[Depends(require_maintainer)])
UPLOAD_PATH = "/api/index/documents"


class UploadAccepted(BaseModel):
    source: str
    bytes: int
    title: str
    next_step: str = "POST /api/index/reindex to index it"


@router.post("/documents", response_model=UploadAccepted, status_code=201)
async def upload(file: Annotated[UploadFile, File(description="A .txt .md .html .htm .docx or .pdf policy file")],
                 principal: MaintainerDep, assistant: AssistantDep) -> UploadAccepted:
    settings = assistant.settings
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise UploadRejected(f"the file is larger than {settings.max_upload_bytes >> 20} MB")
    target, title = await run_in_threadpool(accept_upload, settings.corpus_dir, file.filename or "", data,
                                            settings.max_upload_bytes, settings.upload_parse_seconds,
                                            settings.upload_parse_memory_mb, settings.upload_parse_workers)
    return UploadAccepted(source=target.name, bytes=len(data), title=title)

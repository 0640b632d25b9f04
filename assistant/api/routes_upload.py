"""Maintainers add a policy file to the corpus over HTTP (then re-index with POST /api/index/reindex).

The route takes the raw request rather than a `File` parameter: FastAPI reads form bodies before
it runs dependencies, so the token would be checked only after the whole upload had arrived.
Here the token is checked first (401/403 with the body unread), then the multipart body is
streamed (size and time limits: assistant/api/limits.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from assistant.api.deps import AssistantDep, MaintainerDep, require_maintainer
from assistant.errors import AssistantError
from assistant.load.upload import UploadRejected, accept_upload, check_target, safe_name

router = APIRouter(prefix="/api/index", tags=["maintenance"], dependencies=[Depends(require_maintainer)])
UPLOAD_PATH = "/api/index/documents"

_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "A .txt .md .html .htm .docx or .pdf policy file"}}}}}}}


class UploadTooLarge(AssistantError):
    """The file is over `max_upload_bytes` (HTTP 413)."""

    status = 413
    zh_default = "文件过大。"


class UploadAccepted(BaseModel):
    source: str
    bytes: int
    title: str
    replaced: bool = False
    next_step: str = "POST /api/index/reindex to index it"


@router.post("/documents", response_model=UploadAccepted, status_code=201, openapi_extra=_FORM)
async def upload(request: Request, principal: MaintainerDep, assistant: AssistantDep,
                 replace: Annotated[bool, Query(description="Overwrite a file of the same name")] = False
                 ) -> UploadAccepted:
    settings = assistant.settings
    async with request.form(max_files=1, max_fields=4) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise UploadRejected("send the policy file as the multipart field `file`")
        data = await file.read(settings.max_upload_bytes + 1)
        name = safe_name(file.filename or "")
    if len(data) > settings.max_upload_bytes:
        raise UploadTooLarge(f"the file is larger than {settings.max_upload_bytes >> 20} MB")
    existed = check_target(settings.corpus_dir, name, replace)
    target, title = await run_in_threadpool(accept_upload, settings.corpus_dir, name, data,
                                            settings.max_upload_bytes, settings.upload_parse_seconds,
                                            settings.upload_parse_memory_mb, settings.upload_parse_workers)
    return UploadAccepted(source=target.name, bytes=len(data), title=title, replaced=existed)

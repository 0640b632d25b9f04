"""One indexed document for readers: its page (/documents/{id}), its text as JSON, its original file;
and what the enquiry page offers around a question (type-ahead, 热点问题)."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from assistant.api.deps import AssistantDep, root_path
from assistant.catalog import DocumentNotFoundError, original_file, read_document, suggestions
from assistant.errors import AssistantError
from assistant.review.popular import popular_questions, reviewed_questions
from assistant.types import DocumentInfo
from ui.document_page import CSS, document_page, error_page
from ui.markup import parse_spans

_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
pages = APIRouter(prefix="/documents", tags=["documents"],
                  responses={404: {"description": "No such document, or its original changed (a page)", **_HTML},
                             503: {"description": "The index is unavailable (a page)", **_HTML}})
api = APIRouter(prefix="/api", tags=["documents"])
DOC_ID = r"^[0-9a-f]{12}$"


class PassageOut(BaseModel):
    chunk_id: str
    locator: str
    text: str


class DocumentText(BaseModel):
    id: str
    document: DocumentInfo
    passages: list[PassageOut] = Field(description="The indexed text in reading order (chunk windows may "
                                                   "repeat a sentence of the one before)")
    original_url: str | None = Field(description="The indexed file, while the corpus still holds it unchanged")
    index_version: str


class Suggestions(BaseModel):
    suggestions: list[str]


class PopularQuestion(BaseModel):
    question: str
    asked: int


class PopularQuestions(BaseModel):
    questions: list[PopularQuestion]


@pages.get("/assets/style.css", include_in_schema=False)
def style() -> Response:
    return Response(CSS, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


@pages.get("/{doc_id}", response_class=HTMLResponse, summary="The page of one document (HTML)")
async def page(request: Request, assistant: AssistantDep, doc_id: str,
               p: Annotated[str | None, Query(description="Chunk id of the cited passage")] = None,
               hl: Annotated[str | None, Query(description="Cited spans in it: 0-12,30-41")] = None,
               ) -> HTMLResponse:
    try:
        doc = await run_in_threadpool(read_document, assistant, doc_id)
    except DocumentNotFoundError as err:
        return HTMLResponse(error_page(str(err), root_path(request)), status_code=404)
    except AssistantError:
        return HTMLResponse(error_page("政策文件库暂时不可用，请稍后再试。", root_path(request)), status_code=503)
    # Never a 422 (this is a page): an overlong or malformed link just marks nothing.
    return HTMLResponse(document_page(doc, (p or "")[:64] or None, parse_spans((hl or "")[:400]), root_path(request)))


@pages.get("/{doc_id}/original", summary="The original file of one document, as it was indexed",
           response_class=FileResponse)
async def original(request: Request, assistant: AssistantDep, doc_id: str) -> Response:
    try:
        path, name = await run_in_threadpool(original_file, assistant, doc_id)
    except DocumentNotFoundError as err:
        return HTMLResponse(error_page(str(err), root_path(request)), status_code=404)
    except AssistantError:
        return HTMLResponse(error_page("政策文件库暂时不可用，请稍后再试。", root_path(request)), status_code=503)
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith("text/"):
        media += "; charset=utf-8" if path.suffix.lower() in (".txt", ".md", ".markdown") else ""
    # Always a download: an HTML original must never run as a page of this site.
    return FileResponse(path, media_type=media, filename=name, content_disposition_type="attachment",
                        headers={"x-content-type-options": "nosniff"})


@api.get("/documents/{doc_id}", response_model=DocumentText, summary="The whole indexed text of one document")
async def document_json(request: Request, assistant: AssistantDep, doc_id: str) -> DocumentText:
    try:
        doc = await run_in_threadpool(read_document, assistant, doc_id)
    except DocumentNotFoundError as err:
        raise HTTPException(404, str(err)) from err
    return DocumentText(
        id=doc.id, document=doc.info, index_version=doc.index_version,
        passages=[PassageOut(chunk_id=p.chunk_id, locator=p.locator, text=p.text) for p in doc.passages],
        original_url=f"{root_path(request)}/documents/{doc.id}/original" if doc.has_original else None,
    )


@api.get("/suggestions", response_model=Suggestions, summary="Type-ahead: titles, headings, reviewed questions")
async def suggest(assistant: AssistantDep,
                  q: Annotated[str, Query(max_length=200, description="What has been typed so far")] = "",
                  ) -> Suggestions:
    reviewed = reviewed_questions(assistant.review.log) if assistant.review.enabled else []
    return Suggestions(suggestions=await run_in_threadpool(suggestions, assistant, q, reviewed))


@api.get("/popular-questions", response_model=PopularQuestions,
         summary="热点问题: the most asked questions that have a reviewed answer")
def popular(assistant: AssistantDep, limit: Annotated[int, Query(ge=1, le=20)] = 5) -> PopularQuestions:
    rows = popular_questions(assistant.review.log, limit) if assistant.review.enabled else []
    return PopularQuestions(questions=[PopularQuestion(question=q, asked=n) for q, n in rows])

"""The command line's two ways to answer: through a running server, or in this process.

Loading the model and the index takes 15-18 s, so `assistant ask` and `assistant search` first try
the server at the configured host and port (`assistant serve`, or any instance of the API): one
question there costs an HTTP request. The server is used only when it serves the same index as the
CLI would read (same live version, model, document and chunk counts), so `--index elsewhere` never
gets another index's answers. When none answers, or it serves another index, the question is
answered in-process (and `--local` forces that). Only the standard library is imported here: the
fast path must not import the model stack.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from assistant.errors import AssistantError
from assistant.indexing.versions import VersionStore
from assistant.settings import Settings

PROBE_SECONDS = 0.5  # a server on the loopback answers /api/health in milliseconds
ANSWER_SECONDS = 120.0


class ServerError(Exception):
    """The server refused the request (bad question, rate limit): its message, for the user."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class Backend(Protocol):
    """Where a question is answered; both return the API's JSON (an Answer, a SearchResponse)."""

    @property
    def where(self) -> str: ...

    def ask(self, question: str, conversation_id: str | None = None) -> dict[str, Any]: ...

    def search(self, query: str, k: int) -> dict[str, Any]: ...


def server_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}"


def _request(url: str, body: dict[str, Any] | None, timeout: float) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            payload = json.loads(err.read())
        except ValueError:
            payload = {"detail": err.reason}
        return int(err.code), payload


def _local_identity(settings: Settings) -> tuple[str, str, int, int] | None:
    """(live version, model, documents, chunks) of the index this CLI would read, or None."""
    try:
        versions = VersionStore(settings.index_dir)
        version = versions.current_version()
        if version is None:
            return None
        manifest = versions.manifest(version)
    except (AssistantError, OSError, ValueError):  # a damaged index: the in-process path says so
        return None
    return (version, str(manifest.get("model")), len(manifest.get("documents", {})),
            int(manifest.get("chunk_count", 0)))


@dataclass
class ServerBackend:
    url: str

    @property
    def where(self) -> str:
        return f"the server at {self.url}"

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, payload = _request(self.url + path, body, ANSWER_SECONDS)
        if status != 200:
            detail = payload.get("detail") if isinstance(payload, dict) else None
            raise ServerError(status, str(detail or f"HTTP {status}"))
        result: dict[str, Any] = payload
        return result

    def ask(self, question: str, conversation_id: str | None = None) -> dict[str, Any]:
        return self._call("/api/ask", {"question": question, "conversation_id": conversation_id})

    def search(self, query: str, k: int) -> dict[str, Any]:
        return self._call("/api/search?" + urllib.parse.urlencode({"q": query, "k": k}))


def running_server(settings: Settings) -> ServerBackend | None:
    """The server at the configured address when it is up, healthy and serving this CLI's index."""
    url = server_url(settings)
    try:
        status, health = _request(url + "/api/health", None, PROBE_SECONDS)
    except (OSError, ValueError):  # refused, timed out, not HTTP, not JSON
        return None
    if status != 200 or not isinstance(health, dict) or health.get("status") != "ok":
        return None
    local = _local_identity(settings)
    served = (health.get("index_version"), health.get("model"), health.get("documents"), health.get("chunks"))
    return ServerBackend(url) if local is not None and served == local else None


class LocalBackend:
    """The assistant in this process: loads the model and index once, on the first question."""

    where = "this process"

    def __init__(self, settings: Settings) -> None:
        from assistant.service import Assistant

        self.assistant = Assistant(settings)

    def ask(self, question: str, conversation_id: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self.assistant.ask(question, conversation_id).model_dump(mode="json")
        return answer

    def search(self, query: str, k: int) -> dict[str, Any]:
        version, passages = self.assistant.search_with_version(query, k)
        return {"passages": [p.model_dump(mode="json") for p in passages], "index_version": version}


def backend(settings: Settings, local: bool = False) -> Backend:
    """The running server serving this index, else the assistant in this process."""
    found = None if local else running_server(settings)
    return found if found is not None else LocalBackend(settings)

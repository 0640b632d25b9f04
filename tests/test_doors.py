"""Every door meets the same limits (issue 24, items 1 and 2), over real HTTP against a real server.

The chat page's events count against the API's per-address budgets and one address cannot fill a
page's queue; no Gradio route the pages don't use answers; a 64 MiB body is refused on every path
before it is read whole; stalled headers are timed out and cannot make the server refuse others.
Other addresses are loopback source addresses (127.x.y.z: the whole 127/8 is local on Linux).
"""

from __future__ import annotations

import asyncio
import json
import resource
import select
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api.app import create_app
from assistant.review.queue import QueueFilter
from assistant.service import Assistant
from assistant.settings import Settings
from tests.serving import serve_in_thread
from tests.test_documents_api import UNUSED, GatedAssistant
from ui.app import CONCURRENCY

QUESTION = "天津布局建设了多少家概念验证平台？"
ATTACKER, VICTIM = "127.0.0.2", "127.0.0.3"
MiB = 1 << 20


def settings_for(seed_index: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    return seed_index.model_copy(update={"data_dir": tmp_path / "data", **overrides})


def from_address(address: str, timeout: float = 30) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=timeout)


def host_port(base: str) -> tuple[str, int]:
    host, port = base.rstrip("/").removeprefix("http://").split(":")
    return host, int(port)


def event_ids(base: str) -> dict[str, int]:
    config = httpx.get(f"{base}config", timeout=30).json()
    return {d["api_name"]: int(d["id"]) for d in config["dependencies"]}


def join(client: httpx.Client, base: str, fn: int, data: list[Any], session: str, page: str = "",
         headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(f"{base}{page}gradio_api/queue/join", headers=headers,
                       json={"data": data, "fn_index": fn, "session_hash": session, "event_data": None,
                             "trigger_id": None})


def completed(client: httpx.Client, base: str, session: str, event_id: str) -> dict[str, Any]:
    """The process_completed message of one event, read from the session's stream."""
    with client.stream("GET", f"{base}gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                    return message  # type: ignore[no-any-return]
    raise AssertionError(f"the stream of {session} ended before {event_id} completed")


def run_event(client: httpx.Client, base: str, fn: int, data: list[Any], session: str) -> dict[str, Any]:
    joined = join(client, base, fn, data, session)
    assert joined.status_code == 200, joined.text
    return completed(client, base, session, joined.json()["event_id"])


# --- item 1: the page's events meet the API's budgets ------------------------------------------------

def test_a_join_flood_from_one_address_leaves_another_address_answered(seed_index: Settings, tmp_path: Path
                                                                       ) -> None:
    """1,000 joins from one address (chat answers, held so they cannot drain, and cheap events) are
    refused 429 once that address has `ui_queue_per_address` events waiting: another address's chat
    question is taken and answered, never "Queue is full"."""
    settings = settings_for(seed_index, tmp_path)
    gated = GatedAssistant(settings)
    per_address = settings.ui_queue_per_address
    try:
        with serve_in_thread(create_app(settings, assistant=gated), settings=settings) as base:
            fns = event_ids(base)

            async def flood() -> list[tuple[int, int, str]]:
                transport = httpx.AsyncHTTPTransport(local_address=ATTACKER, limits=httpx.Limits(max_connections=32))
                async with httpx.AsyncClient(transport=transport, timeout=60) as client:

                    async def one(i: int) -> tuple[int, int, str]:
                        fn = fns["respond"] if i % 2 == 0 else fns["record"]
                        data = [f"{QUESTION}（{i}）", [], None] if i % 2 == 0 else [QUESTION, []]
                        body = {"data": data, "fn_index": fn, "session_hash": "flood", "event_data": None,
                                "trigger_id": None}
                        answer = await client.post(f"{base}gradio_api/queue/join", json=body)
                        return fn, answer.status_code, answer.headers.get("retry-after", "")

                    return await asyncio.gather(*(one(i) for i in range(1000)))

            started = time.monotonic()
            joins = asyncio.run(flood())
            took = time.monotonic() - started
            statuses = Counter(status for _, status, _ in joins)
            accepted_answers = sum(1 for fn, status, _ in joins if fn == fns["respond"] and status == 200)
            print(f"1,000 joins from {ATTACKER} in {took:.1f} s: {dict(statuses)}; chat answers taken: "
                  f"{accepted_answers} (running, held: {gated.started})")
            assert set(statuses) <= {200, 429}, statuses  # never "Queue is full" (503), never an error
            assert statuses[429] >= 900 and all(retry for _, status, retry in joins if status == 429)
            assert gated.started == CONCURRENCY and accepted_answers <= CONCURRENCY + per_address

            with from_address(VICTIM, timeout=120) as victim:
                joined = join(victim, base, fns["respond"], [QUESTION, [], None], "victim")
                assert joined.status_code == 200, joined.text  # while the flood's answers are still held
                gated.gate.set()
                answer = completed(victim, base, "victim", joined.json()["event_id"])
            chat = json.dumps(answer["output"]["data"][0], ensure_ascii=False)
            assert answer["success"] and "25" in chat, chat
    finally:
        gated.gate.set()
        gated.review.close()


def test_a_question_is_one_question_through_either_door(seed_index: Settings, tmp_path: Path) -> None:
    """The chat's questions and the API's share one budget per address (trust_proxy's address rules
    included); a question of invisible characters asked in the chat is refused and not logged."""
    settings = settings_for(seed_index, tmp_path, rate_limit_questions="3/minute", trust_proxy=True,
                            trusted_proxies=["127.0.0.1"])
    assistant = Assistant(settings)
    try:
        with serve_in_thread(create_app(settings, assistant=assistant), settings=settings) as base:
            respond = event_ids(base)["respond"]
            with httpx.Client(timeout=60) as client:
                asked = [client.post(f"{base}api/ask", json={"question": QUESTION}).status_code,
                         join(client, base, respond, [QUESTION, [], None], "mine").status_code,
                         client.get(f"{base}api/search", params={"q": QUESTION}).status_code]
                over_page = join(client, base, respond, [QUESTION, [], None], "mine")
                over_api = client.post(f"{base}api/ask", json={"question": QUESTION})
                assert asked == [200, 200, 200], asked
                assert over_page.status_code == 429 and "提问过于频繁" in over_page.json()["detail"], over_page.text
                assert 0 < int(over_page.headers["retry-after"]) <= 60
                assert over_api.status_code == 429
                # Through the trusted proxy, each forwarded address has its own budget, at either door.
                proxied = {"X-Forwarded-For": "203.0.113.7"}
                forwarded = [client.post(f"{base}api/ask", json={"question": QUESTION}, headers=proxied).status_code,
                             join(client, base, respond, [QUESTION, [], None], "fwd", headers=proxied).status_code,
                             client.get(f"{base}api/search", params={"q": QUESTION}, headers=proxied).status_code,
                             join(client, base, respond, [QUESTION, [], None], "fwd", headers=proxied).status_code]
                assert forwarded == [200, 200, 200, 429], forwarded
            # From an address that is not a trusted proxy, X-Forwarded-For is not believed.
            with from_address("127.0.0.9") as other:
                spoofed = [join(other, base, respond, [QUESTION, [], None], f"spoof-{i}").status_code
                           for i in range(4)]
                assert spoofed == [200, 200, 200, 429], spoofed
            with from_address("127.0.0.10", timeout=60) as fresh:
                refused = run_event(fresh, base, respond, ["\u200b\u202e\ufeff", [], None], "invisible")
            assert "问题中只有不可见字符" in json.dumps(refused["output"]["data"][0], ensure_ascii=False)
            logged = {row["question"] for row in assistant.review.log.rows("SELECT question FROM answers")}
            assert logged == {QUESTION}, logged  # the questions taken above, and not the invisible one
    finally:
        assistant.review.close()


def test_page_handoffs_meet_the_reports_budget(seed_index: Settings, tmp_path: Path) -> None:
    """30 questions, each handed off from the page in one session within a minute: the liaisons get
    the API's 20 (rate_limit_reports), the rest are refused 429, and the budget is the API's."""
    settings = settings_for(seed_index, tmp_path)
    assistant = Assistant(settings)
    limit = int(settings.rate_limit_reports.split("/")[0])
    try:
        with serve_in_thread(create_app(settings, assistant=assistant), settings=settings) as base:
            fns = event_ids(base)
            statuses = []
            started = time.monotonic()
            with httpx.Client(timeout=60) as client:
                for i in range(30):
                    answered = run_event(client, base, fns["respond"], [f"{QUESTION}（{i}）", [], None], "one")
                    assert answered["success"], answered
                    handoff = join(client, base, fns["handoff"], ["test@example.invalid", None, None], "one")
                    statuses.append(handoff.status_code)
                    if handoff.status_code == 200:
                        done = completed(client, base, "one", handoff.json()["event_id"])
                        assert "已转交服务专员" in json.dumps(done["output"], ensure_ascii=False), done
                    else:
                        assert "提交过于频繁" in handoff.json()["detail"] and handoff.headers["retry-after"]
                asked = client.post(f"{base}api/ask", json={"question": QUESTION}).json()
                body = {"answer_id": asked["answer_id"], "contact": "x", "conversation_id": asked["conversation_id"]}
                api = client.post(f"{base}api/handoff", json=body).status_code
            took = time.monotonic() - started
            print(f"30 page hand-offs in {took:.1f} s: {dict(Counter(statuses))}; then /api/handoff: {api}")
            assert took < 60 and statuses == [200] * limit + [429] * (30 - limit), statuses
            assert api == 429  # the same budget
            items = assistant.review.queue(QueueFilter(status="handoff"), limit=100).items
            assert len(items) == limit
            with from_address("127.0.0.4") as other:  # another address has its own
                assert other.post(f"{base}api/handoff", json=body).status_code == 200
    finally:
        assistant.review.close()


def test_unused_gradio_routes_answer_404_over_http(seed_index: Settings, tmp_path: Path) -> None:
    settings = settings_for(seed_index, tmp_path)
    assistant = Assistant(settings)
    try:
        with (serve_in_thread(create_app(settings, assistant=assistant), settings=settings) as base,
              httpx.Client(timeout=30) as client):
            for page in ("", "review/"):
                for method, path in UNUSED:
                    answer = client.request(method, f"{base}{page}{path}")
                    assert answer.status_code == 404, (page, method, path, answer.status_code)
                recording = client.post(f"{base}{page}gradio_api/process_recording",
                                        files={"audio": ("a.wav", b"RIFF" + b"\0" * 4096, "audio/wav")})
                assert recording.status_code == 404 and "未开放" in recording.json()["detail"]
                unknown = join(client, base, 9999, [], "x", page)  # an event the page does not have
                assert unknown.status_code == 404, unknown.text
    finally:
        assistant.review.close()


BIG_BODY_PATHS = ["/api/ask", "/api/health", "/api/index/documents", "/gradio_api/queue/join",
                  "/review/gradio_api/queue/join", "/gradio_api/process_recording", "/gradio_api/upload", "/",
                  "/documents/x", "/nowhere"]


def _chunked_flood(host: str, port: int, path: str, total: int = 64 * MiB) -> tuple[int, str]:
    """Send up to `total` bytes as a chunked body until the server answers or closes: (bytes sent, reply)."""
    chunk = b"x" * MiB
    sent = 0
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        try:
            while sent < total and not poller.poll(0):
                sock.sendall(b"100000\r\n" + chunk + b"\r\n")
                sent += len(chunk)
            reply = sock.recv(4096).decode(errors="replace")
        except (ConnectionResetError, BrokenPipeError):
            reply = "reset"
    return sent, reply


def test_a_64_mib_body_is_refused_on_every_path_before_it_is_read(seed_index: Settings, tmp_path: Path) -> None:
    settings = settings_for(seed_index, tmp_path)
    assistant = Assistant(settings)
    try:
        with serve_in_thread(create_app(settings, assistant=assistant), settings=settings) as base:
            host, port = host_port(base)
            for path in BIG_BODY_PATHS:  # announced: refused before a byte of it is sent
                with socket.create_connection((host, port), timeout=10) as sock:
                    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                                 f"Content-Length: {64 * MiB}\r\n\r\n".encode())
                    reply = sock.recv(4096).decode(errors="replace")
                    assert reply.startswith("HTTP/1.1 413"), (path, reply)
                    assert "connection: close" in reply.lower() and sock.recv(4096) == b"", path  # and closed
            for path in ("/gradio_api/queue/join", "/nowhere", "/api/ask"):  # chunked: cut off at the limit
                sent, reply = _chunked_flood(host, port, path)
                print(f"chunked 64 MiB to {path}: {sent // MiB} MiB sent before the server answered "
                      f"{reply.splitlines()[0] if reply else 'nothing'}")
                # What the sockets' buffers take is all that leaves the client; the server reads 256 KiB.
                assert sent < 24 * MiB and (reply.startswith("HTTP/1.1 413") or reply in ("reset", "")), (path, reply)
            assert httpx.get(f"{base}api/health", timeout=10).status_code == 200
    finally:
        assistant.review.close()


# --- item 2: slow or stalled headers cannot hold the server -----------------------------------------

def _enough_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the open-file limit ({hard}) is below the {needed} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _stall(host: str, port: int, source: str, line: bytes = b"GET /api/hea") -> socket.socket:
    """A connection from `source` that sends half a request line, then waits."""
    sock = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    sock.sendall(line)
    return sock


def _state(sock: socket.socket) -> str:
    """'open' (nothing from the server yet), 'closed', or the status line the server sent."""
    # poll, not select: with 520 stalled clients and the server in one process, descriptors pass 1024
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return "open"
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return "closed"
    return data.decode(errors="replace").split("\r\n")[0] if data else "closed"


def test_stalled_headers_from_many_addresses_leave_the_server_answering(seed_index: Settings, tmp_path: Path
                                                                       ) -> None:
    """520 connections, each from its own address, each sending half a request line and stalling:
    /api/health and /api/ask still answer 200 at once (512 open connections at most, the longest
    stalled make room), and every stalled one is answered 408 and closed after the header timeout."""
    _enough_files(4096)
    settings = settings_for(seed_index, tmp_path, server_header_timeout_seconds=5.0)
    assistant = Assistant(settings)
    stalled: list[socket.socket] = []
    try:
        with serve_in_thread(create_app(settings, assistant=assistant), settings=settings) as base:
            host, port = host_port(base)
            assert httpx.post(f"{base}api/ask", json={"question": QUESTION}, timeout=60).status_code == 200  # warm
            started = time.monotonic()
            stalled = [_stall(host, port, f"127.1.{i // 250}.{i % 250 + 1}") for i in range(520)]
            time.sleep(0.3)
            held = sum(_state(s) == "open" for s in stalled)
            health = httpx.get(f"{base}api/health", timeout=10)
            ask = httpx.post(f"{base}api/ask", json={"question": QUESTION}, timeout=30)
            answered = time.monotonic() - started
            print(f"520 stalled connections opened; {held} held open by the server; health {health.status_code}, "
                  f"ask {ask.status_code} {answered:.1f} s after the first stalled one")
            assert (health.status_code, ask.status_code) == (200, 200), (health.text, ask.text)
            assert "25" in ask.json()["answer"] and answered < 5  # while they are still held
            assert settings.server_max_connections - 2 <= held <= settings.server_max_connections
            seen = ["open"] * len(stalled)  # what each one got first from the server (reading consumes it)
            deadline = time.monotonic() + 10
            while "open" in seen and time.monotonic() < deadline:
                seen = [_state(s) if state == "open" else state for s, state in zip(stalled, seen, strict=True)]
                time.sleep(0.5)
            states = Counter(seen)
            print(f"after the header timeout: {dict(states)}")
            assert "open" not in states, states
            assert set(states) <= {"HTTP/1.1 408 Request Timeout", "closed"} and states["HTTP/1.1 408 Request Timeout"] >= 480
    finally:
        for sock in stalled:
            sock.close()
        assistant.review.close()


def test_one_address_holds_at_most_its_share_of_connections(seed_index: Settings, tmp_path: Path) -> None:
    """One address opening 200 stalled connections keeps at most `server_connections_per_address`
    (the longest stalled make room); its own new requests and other addresses' are answered; when
    all its connections have requests in progress, its next one is refused 503 and others still answered."""
    _enough_files(2048)
    settings = settings_for(seed_index, tmp_path, server_connections_per_address=16,
                            body_timeout_seconds=8.0, rate_limit_questions="")
    assistant = Assistant(settings)
    opened: list[socket.socket] = []
    try:
        with serve_in_thread(create_app(settings, assistant=assistant), settings=settings) as base:
            host, port = host_port(base)
            opened = [_stall(host, port, ATTACKER) for _ in range(200)]
            time.sleep(0.3)
            states = Counter(_state(s) for s in opened)
            assert states["open"] == 16 and states["closed"] == 184, states
            with from_address(ATTACKER) as same, from_address(VICTIM) as other:
                assert same.get(f"{base}api/health").status_code == 200  # its oldest stalled one made room
                assert other.post(f"{base}api/ask", json={"question": QUESTION}).status_code == 200
            for sock in opened:
                sock.close()
            # 16 requests in progress (bodies announced, half sent): nothing to make room with.
            busy = [_stall(host, port, ATTACKER, b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                                 b"application/json\r\nContent-Length: 100\r\n\r\n{")
                    for _ in range(16)]
            opened = list(busy)  # a copy: the refused one joins `opened`, not `busy`
            time.sleep(0.3)
            refused = _stall(host, port, ATTACKER, b"")
            opened.append(refused)
            refused.settimeout(5)
            reply = refused.recv(4096).decode()
            assert reply.startswith("HTTP/1.1 503") and "retry-after" in reply.lower(), reply
            assert all(_state(s) == "open" for s in busy), Counter(_state(s) for s in busy)
            with from_address(VICTIM) as other:
                assert other.get(f"{base}api/health").status_code == 200
            for sock in opened:  # before the server stops (it would wait for their bodies)
                sock.close()
    finally:
        for sock in opened:
            sock.close()
        assistant.review.close()

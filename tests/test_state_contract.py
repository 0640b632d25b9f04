"""One contract for every state backend: the review log on SQLite and on PostgreSQL, conversations
in memory and in Redis (real servers, started once for the module: tests/state_servers.py). Then
what only the servers have: Alembic upgrades in place, the copy of a SQLite log, Redis outages."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from assistant.answer.conversation import Conversation, Conversations, ConversationStore
from assistant.api.limits import LimitsMiddleware
from assistant.errors import StateUnavailableError, UnknownConversationError
from assistant.review import handoffs, repository
from assistant.review.errors import ReviewNotFoundError
from assistant.review.log import CHINA, TABLES, ReviewLog, ReviewLogError, now
from assistant.review.postgres import PostgresLog, copy_sqlite, current_revision, head_revision, upgrade
from assistant.review.queue import QueueFilter
from assistant.settings import Settings
from assistant.state.conversations import RedisConversations
from assistant.state.redis_client import client
from bench.helpers import free_port
from tests.state_servers import Postgres, Redis, postgres_server, redis_server

REFUSED = (sqlite3.DatabaseError, ReviewLogError)  # what each backend raises for a refused statement


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReviewLog]:
    opened = (ReviewLog(tmp_path / "review.sqlite3") if request.param == "sqlite"
              else PostgresLog(request.getfixturevalue("postgres").new_database()))
    yield opened
    opened.close()


def answer(log: ReviewLog, question: str = "天津布局建设了多少家概念验证平台？", conversation: str = "c1",
           **extra: object) -> int:
    values: dict[str, object] = {"origin": "assistant", "conversation_id": conversation, "question": question,
                                 "query": question, "answer": "天津布局建设了25家概念验证平台。[1]", "refused": False,
                                 "citations": [{"n": 1}], **extra}
    return repository.insert_answer(log, documents=[repository.DocumentRow("seed.txt", "答复", "ab" * 32)],
                                    **values)  # type: ignore[arg-type]


class TestReviewLogContract:
    def test_rows_round_trip(self, log: ReviewLog) -> None:
        aid = answer(log, "问题\ud800带孤立代理项？", evidence=0.61234, min_support=0.5, index_version="v00001")
        row = repository.answer(log, aid)
        assert row is not None
        assert row.question == "问题\ufffd带孤立代理项？" and row.refused is False and row.reviewed is False
        assert row.evidence == pytest.approx(0.61234) and row.citations == [{"n": 1}]
        assert repository.answer_documents(log, aid) == [repository.DocumentRow("seed.txt", "答复", "ab" * 32)]
        fid = repository.insert_feedback(log, aid, False, "没有回答我的问题")
        assert repository.latest_feedback(log, aid) == repository.FeedbackRow(
            fid, aid, repository.feedback_of(log, aid)[0].created_at, False, "没有回答我的问题")
        assert repository.answer(log, 10**9) is None

    def test_every_table_is_append_only(self, log: ReviewLog) -> None:
        aid = answer(log)
        for sql in ("UPDATE answers SET answer = 'x' WHERE id = :a", "UPDATE answer_documents SET title = 'x'"):
            with pytest.raises(REFUSED, match="append-only"):
                log.execute(sql, {"a": aid})
        repository.insert_verdict(log, answer_id=aid, created_at=now(), reviewer="wang", role="liaison",
                                  verdict="correct", note="", corrected_answer=None, corrected_citations=[])
        with pytest.raises(REFUSED, match="append-only"):
            log.execute("DELETE FROM verdicts")
        with pytest.raises(REFUSED, match="acted on"):
            log.execute("DELETE FROM answers WHERE id = :a", {"a": aid})
        assert repository.answer(log, aid) is not None

    def test_a_failed_transaction_leaves_nothing(self, log: ReviewLog) -> None:
        with pytest.raises(RuntimeError), log.transaction():
            answer(log, conversation="gone")
            raise RuntimeError("the verdict could not be completed")
        assert not repository.conversation_logged(log, "gone")

    def test_retention_deletes_only_what_nobody_acted_on(self, log: ReviewLog) -> None:
        old = (datetime.now(CHINA) - timedelta(days=400)).isoformat(timespec="microseconds")
        ids = []
        for _ in range(3):
            ids.append(log.insert("answers", {"created_at": old, "origin": "assistant", "conversation_id": "old",
                                              "question": "q", "query": "q", "answer": "a", "refused": True}))
        forgotten, judged, handed = ids
        repository.insert_feedback(log, forgotten, True, "")
        log.insert("verdicts", {"answer_id": judged, "created_at": old, "reviewer": "wang", "role": "liaison",
                                "verdict": "incorrect"})
        repository.insert_handoff(log, answer_id=handed, conversation_id="old", question="q", contact="x")
        recent = answer(log)
        before = (datetime.now(CHINA) - timedelta(days=180)).isoformat(timespec="microseconds")
        assert repository.prune_unreviewed(log, before) == 1
        assert repository.answer(log, forgotten) is None and repository.feedback_of(log, forgotten) == []
        assert all(repository.answer(log, kept) for kept in (judged, handed, recent))

    def test_queue_statuses_and_filters(self, log: ReviewLog) -> None:
        plain = answer(log, "全市累计有多少家科技企业孵化器？")
        weak = answer(log, "科技保险提供了多少风险保障？", evidence=0.55)
        refused = answer(log, "出国旅游怎么办理护照？", refused=True)
        handed = answer(log, "中试平台建设下一步有什么安排？", conversation="c2")
        handoffs.create(log, "13800000000", handed, "c2")
        judged = answer(log, "天津设置了多少名服务专员？")
        repository.insert_verdict(log, answer_id=judged, created_at=now(), reviewer="wang", role="liaison",
                                  verdict="correct", note="", corrected_answer=None, corrected_citations=[])
        rows, total = repository.queue_items(log, QueueFilter(), 0.6, 0.6)
        assert total == 4
        assert [(r.answer.id, r.status) for r in rows] == [
            (handed, "handoff"), (refused, "refused"), (weak, "low_evidence"), (plain, "new")]
        rows, total = repository.queue_items(log, QueueFilter(status="all", q="孵化器 全市"), 0.6, 0.6)
        assert [r.answer.id for r in rows] == [plain] and total == 1
        pdf = answer(log, "PDF 格式的申报材料在哪里下载？", conversation="c5")
        rows, _ = repository.queue_items(log, QueueFilter(status="all", q="pdf"), 0.6, 0.6)
        assert [r.answer.id for r in rows] == [pdf]  # case does not matter (ASCII), on either backend
        rows, _ = repository.queue_items(log, QueueFilter(status="reviewed", document="答"), 0.6, 0.6)
        assert [r.answer.id for r in rows] == [judged] and rows[0].documents == ["答复"]
        today = now()[:10]
        assert [v.answer_id for v, _, _ in repository.verdicts_between(log, today, today)] == [judged]
        assert list(repository.verdicts_between(log, "2000-01-01", "2000-01-02")) == []

    def test_handoffs_collapse_and_replies_close_them(self, log: ReviewLog) -> None:
        aid = answer(log, conversation="c3")
        first = handoffs.create(log, "王女士 13800000000", aid, "c3")
        assert handoffs.create(log, "again", aid, "c3") == first  # one item for the liaison, not one per click
        with pytest.raises(ReviewNotFoundError):
            handoffs.create(log, "x", aid, "another-conversation")
        by_question = handoffs.create(log, "x", None, "c3", "能否人工解答？")
        assert by_question.answer_id != aid
        assert [h.id for h in repository.open_handoffs(log, aid)] == [first.id]
        repository.insert_reply(log, handoff_id=first.id, reviewer="wang", answer="已电话联系。", citations=[])
        assert repository.open_handoffs(log, aid) == []
        public = handoffs.of_conversation(log, "c3").handoffs
        assert [(h.id, h.status) for h in public] == [(first.id, "answered"), (by_question.id, "open")]

    def test_concurrent_hand_offs_of_one_answer_make_one(self, log: ReviewLog) -> None:
        """Writes are serialised (BEGIN IMMEDIATE; an advisory lock on PostgreSQL): no duplicate."""
        aid = answer(log, conversation="c4")
        made: list[int] = []
        threads = [threading.Thread(target=lambda: made.append(handoffs.create(log, "x", aid, "c4").id))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(made)) == 1 and repository.handoff_count(log, aid) == 1

    def test_curated_answers_and_their_events(self, log: ReviewLog) -> None:
        import numpy as np

        aid = answer(log)
        vid = repository.insert_verdict(log, answer_id=aid, created_at=now(), reviewer="wang", role="liaison",
                                        verdict="correct", note="", corrected_answer=None, corrected_citations=[])
        vector = np.arange(4, dtype=np.float32) / 10
        cid = repository.insert_curated(log, created_at=now(), answer_id=aid, verdict_id=vid, question="q",
                                        query="q", norm="q", answer="答[1]", citations=[{"n": 1}],
                                        documents=[{"source": "seed.txt", "sha256": "x", "title": "t"}],
                                        vector=vector.tobytes())
        version = repository.curated_version(log)
        [active] = repository.active_curated(log)
        assert active.id == cid and active.vector is not None and np.array_equal(active.vector, vector)
        assert repository.curated_to_retire(log, aid, None, "incorrect") == [cid]
        repository.insert_curated_event(log, cid, "stale", "《答复》已修订")
        assert repository.curated_has_event(log, cid) and repository.active_curated(log) == []
        assert repository.curated_version(log) != version
        [status] = repository.curated_of_item(log, aid, None)
        assert (status.id, status.event, status.reason) == (cid, "stale", "《答复》已修订")


# --- conversations -------------------------------------------------------------------------------

Make = Callable[..., Conversations]


@pytest.fixture(params=["memory", "redis"])
def conversations(request: pytest.FixtureRequest) -> Make:
    """A factory: a fresh store of this backend with the given bounds (limit, ttl_seconds, max_turns)."""

    def make(**bounds: Any) -> Conversations:
        if request.param == "memory":
            return ConversationStore(**bounds)
        store = RedisConversations(client(request.getfixturevalue("redis").url, 3.0), **bounds)
        store.clear()
        return store

    return make


def _say(store: Conversations, conversation_id: str | None, question: str = "天津概念验证平台有多少家？") -> str:
    conversation = store.get(conversation_id)
    conversation.remember(question, question, ["seed.txt"])
    return conversation.id


class TestConversationContract:
    def test_turns_are_kept_for_follow_ups(self, conversations: Make) -> None:
        store = conversations(limit=10, max_turns=4)
        cid = _say(store, None, "全市累计有多少家科技企业孵化器？")
        for n in range(9):
            _say(store, cid, f"那第{n}个呢？")
        held = store.get(cid)
        assert [t.question for t in held.turns] == ["那第6个呢？", "那第7个呢？", "那第8个呢？"]  # room for one more
        assert held in store and Conversation(cid) not in store  # ad-hoc conversations are not logged
        assert held.turns[0].subject == held.turns[-1].subject != ""  # follow-ups keep the subject

    def test_unknown_ids_are_refused(self, conversations: Make) -> None:
        store = conversations()
        with pytest.raises(UnknownConversationError):
            store.get("0" * 32)

    def test_a_flood_of_new_conversations_does_not_evict_users_in_the_middle_of_one(self, conversations: Make
                                                                                     ) -> None:
        store = conversations(limit=20)
        users = [_say(store, _say(store, None), "那申请条件呢？") for _ in range(5)]
        for _ in range(60):
            store.get(None)
        assert len(store) == 20
        assert all(len(store.get(user).turns) == 2 for user in users)
        for _ in range(20):  # the limit reached by continued conversations too: the least recently used goes
            store.get(store.get(None).id)
        with pytest.raises(UnknownConversationError):
            store.get(users[0])

    def test_idle_conversations_expire(self, conversations: Make) -> None:
        store = conversations(ttl_seconds=2.0)
        idle, active = _say(store, None), _say(store, None)
        time.sleep(1.2)
        store.get(active)
        time.sleep(1.2)
        assert store.get(active).id == active
        with pytest.raises(UnknownConversationError):
            store.get(idle)


def test_two_stores_on_one_redis_are_one_store(redis: Redis) -> None:
    """What several workers see: a conversation begun through one continues through the other."""
    first, second = (RedisConversations(client(redis.url, 3.0), limit=100) for _ in range(2))
    first.clear()
    cid = _say(first, None, "全市累计有多少家科技企业孵化器？")
    follow = second.get(cid)
    assert [t.question for t in follow.turns] == ["全市累计有多少家科技企业孵化器？"]
    follow.remember("那众创空间呢？", "全市累计有多少家科技企业孵化器？ 众创空间呢？", ["seed.txt"])
    assert len(first.get(cid).turns) == 2


def test_redis_down_is_503_and_back_without_restarting(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        store = RedisConversations(client(server.url, 1.0))
        cid = _say(store, None)
        server.stop()
        started = time.monotonic()
        with pytest.raises(StateUnavailableError) as err:
            store.get(cid)
        assert err.value.status == 503 and time.monotonic() - started < 5
        server.start()  # the append-only file brings back what Redis acknowledged
        assert len(store.get(cid).turns) == 1


# --- rate limits -----------------------------------------------------------------------------------

def _limited_app(settings: Settings) -> LimitsMiddleware:
    """The limits middleware in front of a stub search route: what one worker does with a request."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def search(request: object) -> JSONResponse:
        return JSONResponse({"passages": []})

    return LimitsMiddleware(Starlette(routes=[Route("/api/search", search)]), settings)


def _from(app: LimitsMiddleware, address: str = "203.0.113.9") -> TestClient:
    return TestClient(app, client=(address, 50000))


@pytest.fixture(params=["memory", "redis"])
def limit_settings(request: pytest.FixtureRequest) -> Settings:
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis").url
        client(url, 3.0).flushdb()
    return Settings(_env_file=None, redis_url=url, rate_limit_questions="3/minute")  # type: ignore[call-arg]


class TestRateLimitContract:
    def test_over_the_rate_is_429_with_retry_after(self, limit_settings: Settings) -> None:
        app = _limited_app(limit_settings)
        with _from(app) as http, _from(app, "203.0.113.10") as other:
            statuses = [http.get("/api/search").status_code for _ in range(5)]
            assert statuses == [200, 200, 200, 429, 429]
            late = http.get("/api/search")
            assert late.status_code == 429 and 1 <= int(late.headers["retry-after"]) <= 60
            assert other.get("/api/search").status_code == 200  # per address


def test_two_workers_on_one_redis_share_one_limit(redis: Redis) -> None:
    client(redis.url, 3.0).flushdb()
    settings = Settings(_env_file=None, redis_url=redis.url, rate_limit_questions="4/minute")  # type: ignore[call-arg]
    with _from(_limited_app(settings)) as one, _from(_limited_app(settings)) as two:
        statuses = [(one if n % 2 else two).get("/api/search").status_code for n in range(8)]
    assert statuses.count(200) == 4 and statuses.count(429) == 4


def test_rate_limits_with_redis_away_are_503_at_once() -> None:
    settings = Settings(_env_file=None, redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens
                        state_timeout_seconds=1.0)  # type: ignore[call-arg]
    started = time.monotonic()
    with _from(_limited_app(settings)) as http:
        response = http.get("/api/search")
    assert response.status_code == 503 and response.headers["retry-after"]
    assert time.monotonic() - started < 5


# --- PostgreSQL only: migrations, the copy of a SQLite log, outages ------------------------------

def test_migrations_upgrade_an_existing_database_in_place(postgres: Postgres) -> None:
    from sqlalchemy import create_engine

    from assistant.review.postgres import engine_url

    url = postgres.new_database()
    engine = create_engine(engine_url(url))
    upgrade(engine, "0001")  # a database made before retention existed (SQLite schema 1)
    old = PostgresLog(url, migrate=False)
    with old.transaction():  # a row as schema 1 held it (the columns of later schemas do not exist yet)
        aid = old.insert("answers", {"created_at": "2026-01-01T00:00:00+08:00", "origin": "assistant",
                                     "conversation_id": "c1", "question": "旧问题", "query": "旧问题", "answer": "旧答案",
                                     "refused": 0, "reviewed": 0, "citations": "[]"})
    with pytest.raises(ReviewLogError, match="append-only"):
        old.execute("DELETE FROM answers WHERE id = :a", {"a": aid})
    assert current_revision(engine) == "0001"
    old.close()

    log = PostgresLog(url)  # a worker opening it upgrades it, keeping every row
    assert log.revision == head_revision() == "0003"
    assert repository.answer(log, aid) is not None
    assert repository.prune_unreviewed(log, "9999") == 1  # retention now allowed
    PostgresLog(url).close()  # opening an up-to-date database changes nothing
    log.close()
    engine.dispose()


def test_workers_starting_together_migrate_once(postgres: Postgres) -> None:
    url = postgres.new_database()
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresLog(url).close()
        except BaseException as err:  # collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _sqlite_log(path: Path) -> tuple[ReviewLog, list[int]]:
    log = ReviewLog(path)
    ids = [answer(log, f"问题{n}？", conversation=f"c{n % 3}") for n in range(25)]
    repository.insert_feedback(log, ids[0], False, "不对")
    vid = repository.insert_verdict(log, answer_id=ids[1], created_at=now(), reviewer="wang", role="liaison",
                                    verdict="needs_change", note="补充", corrected_answer="更正[1]",
                                    corrected_citations=[{"n": 1}])
    cid = repository.insert_curated(log, created_at=now(), answer_id=ids[1], verdict_id=vid, question="q",
                                    query="q", norm="q", answer="更正[1]", citations=[], documents=[],
                                    vector=b"\x00\x01\x02\x03")
    repository.insert_curated_event(log, cid, "retired", "verdict")
    handoff = handoffs.create(log, "x", ids[2], "c2")
    repository.insert_reply(log, handoff_id=handoff.id, reviewer="wang", answer="答", citations=[],
                            verdict_id=vid)
    return log, ids


def test_copy_of_a_sqlite_log_keeps_every_row_and_id(postgres: Postgres, tmp_path: Path) -> None:
    source, ids = _sqlite_log(tmp_path / "review.sqlite3")
    url = postgres.new_database()
    result = CliRunner().invoke(_cli(), ["review-log", "copy", str(tmp_path / "review.sqlite3"), "--to", url])
    assert result.exit_code == 0, result.output
    target = PostgresLog(url)
    for table in TABLES:
        key = "answer_id, source" if table == "answer_documents" else "id"
        assert source.rows(f"SELECT * FROM {table} ORDER BY {key}") == target.rows(
            f"SELECT * FROM {table} ORDER BY {key}"), table
    assert answer(target) == max(ids) + 1  # new rows continue after the copied ids
    # Into a log that has rows already: refused, nothing written.
    again = CliRunner().invoke(_cli(), ["review-log", "copy", str(tmp_path / "review.sqlite3"), "--to", url])
    assert again.exit_code == 2 and "not empty" in again.output
    assert target.scalar("SELECT COUNT(*) FROM answers") == len(ids) + 1
    target.close()
    source.close()


def test_copy_is_all_or_nothing(postgres: Postgres, tmp_path: Path) -> None:
    source, _ = _sqlite_log(tmp_path / "review.sqlite3")
    source.close()
    with sqlite3.connect(tmp_path / "review.sqlite3") as db:  # a row SQLite takes and PostgreSQL refuses
        db.execute("DROP TRIGGER feedback_no_update")
        db.execute("UPDATE feedback SET helpful = 'not a number'")
    target = PostgresLog(postgres.new_database())
    with pytest.raises(ReviewLogError):
        copy_sqlite(tmp_path / "review.sqlite3", target)
    assert all(target.scalar(f"SELECT COUNT(*) FROM {t}") == 0 for t in TABLES)
    target.close()


def test_postgres_restart_is_503_then_back_without_reopening(postgres: Postgres) -> None:
    log = PostgresLog(postgres.new_database(), timeout=2.0)
    aid = answer(log)
    postgres.stop()
    try:
        started = time.monotonic()
        for call in (lambda: repository.answer(log, aid), lambda: answer(log)):
            with pytest.raises(StateUnavailableError) as err:
                call()
            assert err.value.status == 503
        assert time.monotonic() - started < 10
    finally:
        postgres.start()
    assert repository.answer(log, aid) is not None  # committed before the outage: kept
    assert answer(log) == aid + 1
    log.close()


def _cli() -> object:
    from assistant.cli import app

    return app

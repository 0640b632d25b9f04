"""Liaison review (issue 5) on real SQLite files and the real model.

The log survives a restart; the queue puts what needs a human first; a correction is served for
the same and for a paraphrased question but not for an unrelated or a near-miss one; a curated
answer goes stale when a re-index revises or removes its document; every protected route answers
401 without a valid token. The stale test indexes its own small corpus of text written for the
test and marked as not being policy.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.answer.support import answer_support, split_answer
from assistant.api.app import create_app
from assistant.review.auth import Role, TokenChecker, hash_token
from assistant.review.auth import main as auth_main
from assistant.review.curated import figures_agree, normalize_question
from assistant.review.log import CHINA
from assistant.review.queue import QueueFilter
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.types import Answer as AskResponse

LIAISON = "liaison-test-token-7f3a"
MAINTAINER = "maintainer-test-token-91c2"
AS_LIAISON = {"Authorization": f"Bearer {LIAISON}"}
AS_MAINTAINER = {"Authorization": f"Bearer {MAINTAINER}"}
SEED_SOURCE = "tianjin-pilot-platform-reply-2024-04-25.txt"

QUESTION = "天津在中试平台建设方面开展了哪些工作？"
PARAPHRASE = "天津市推进中试平台建设做了哪些工作？"
NEAR_MISS = "天津在中试平台建设方面下一步有什么安排？"
UNRELATED = "出国旅游怎么办理护照和签证？"


def review_settings(base: Settings, data_dir: Path, **overrides: Any) -> Settings:
    """The given index with a data folder of the test's own and the test tokens."""
    values: dict[str, Any] = {"data_dir": data_dir, "liaison_tokens": [f"测试专员:{hash_token(LIAISON)}"],
                              "maintainer_tokens": [f"测试维护:{hash_token(MAINTAINER)}"]}
    values.update(overrides)
    return base.model_copy(update=values)


@pytest.fixture
def settings(seed_index: Settings, tmp_path: Path) -> Settings:
    return review_settings(seed_index, tmp_path / "data")


@pytest.fixture
def assistant(settings: Settings) -> Iterator[Assistant]:
    assistant = Assistant(settings)
    yield assistant
    assistant.review.close()


@pytest.fixture
def client(settings: Settings, assistant: Assistant) -> TestClient:
    return TestClient(create_app(settings, assistant=assistant, ui=False))


def seed_passage(assistant: Assistant, query: str = "概念验证平台") -> tuple[str, str]:
    """(chunk_id, text) of the best passage of the seed document for `query`."""
    hit = assistant.review.search(query, 3).passages[0]
    assert hit.citation.document.source == SEED_SOURCE
    return hit.chunk_id, hit.citation.text


def crafted(assistant: Assistant, question: str, answer: str, *, refused: bool = False,
            evidence: float | None = 0.9, citations_from: str = "概念验证平台") -> int:
    """Log an answer with chosen text and evidence (citing a real seed passage); return its id."""
    found = assistant.search(citations_from, 1)
    conversation = assistant.conversations.get(None)
    response = AskResponse(answer=answer, citations=found, refused=refused, conversation_id=conversation.id,
                           query=question, index_version=assistant.index.snapshot().version)
    logged = assistant.review.record(response, question, evidence)
    assert logged.answer_id is not None
    return logged.answer_id


def conversation_of(assistant: Assistant, answer_id: int) -> str:
    return assistant.review.item(answer_id).conversation_id


def verdict(client: TestClient, answer_id: int, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/review/items/{answer_id}/verdict", headers=AS_LIAISON, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def queue(client: TestClient, **params: Any) -> list[tuple[int, str]]:
    response = client.get("/api/review/queue", headers=AS_LIAISON, params=params)
    assert response.status_code == 200, response.text
    return [(i["id"], i["status"]) for i in response.json()["items"]]


# --- the log ---------------------------------------------------------------------------------------

def test_log_survives_a_restart(settings: Settings) -> None:
    first = Assistant(settings)
    answered = first.ask(QUESTION)
    refused = first.ask(UNRELATED)
    assert answered.answer_id and refused.answer_id and not answered.refused and refused.refused
    first.review.feedback(answered.answer_id, False, "不够具体", answered.conversation_id)
    chunk_id, _ = seed_passage(first)
    principal = TokenChecker(settings).require(LIAISON)
    from assistant.review.schemas import CitationPick, VerdictRequest

    first.review.verdict(refused.answer_id, principal, VerdictRequest(
        verdict="needs_change", note="应转给科技局", corrected_answer="布局建设中关村硬创空间等25家行业概念验证平台。[1]",
        citations=[CitationPick(n=1, chunk_id=chunk_id)]))
    assert first.review.log.journal_mode == "wal"
    first.review.close()
    del first

    assert settings.review_db_path.is_file() and settings.review_db_path.parent == settings.data_dir
    second = Assistant(settings)  # a new process would see the same: nothing is kept in memory
    try:
        item = second.review.item(answered.answer_id)
        assert item.item.question == QUESTION and item.item.answer == answered.answer
        assert item.conversation_id == answered.conversation_id and item.query == answered.query
        assert item.index_version == answered.index_version
        assert [c.text for c in item.citations] == [c.text for c in answered.citations]
        assert item.document_versions[0].source == SEED_SOURCE and len(item.document_versions[0].sha256 or "") == 64
        assert [(f.helpful, f.comment) for f in item.feedback] == [(False, "不够具体")]
        other = second.review.item(refused.answer_id)
        assert other.item.refused and other.verdicts[0].verdict == "needs_change"
        assert other.verdicts[0].reviewer == "测试专员" and other.verdicts[0].note == "应转给科技局"
        assert other.verdicts[0].created_at.startswith(datetime.now(CHINA).strftime("%Y-%m-%d"))
        # The correction made before the restart is served after it.
        again = second.ask(UNRELATED)
        assert again.reviewed and again.answer.startswith("布局建设中关村硬创空间等25家")
    finally:
        second.review.close()


def test_log_tables_are_append_only(assistant: Assistant) -> None:
    answer_id = assistant.ask(QUESTION).answer_id
    principal = TokenChecker(assistant.settings).require(LIAISON)
    from assistant.review.schemas import VerdictRequest

    assistant.review.verdict(answer_id, principal, VerdictRequest(verdict="correct"))
    assistant.review.verdict(answer_id, principal, VerdictRequest(verdict="needs_change", note="再看看"))
    conn = sqlite3.connect(assistant.settings.review_db_path)
    try:
        for sql in ("UPDATE verdicts SET verdict = 'correct'", "DELETE FROM verdicts", "UPDATE answers SET answer = ''"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()
    history = assistant.review.item(answer_id).verdicts
    assert [v.verdict for v in history] == ["correct", "needs_change"]  # both kept, oldest first
    curated = assistant.review.item(answer_id).curated
    assert [c.status for c in curated] == ["retired"]  # the approval was withdrawn by the second verdict


def test_probe_conversations_are_not_logged(assistant: Assistant) -> None:
    from assistant.answer.conversation import Conversation

    response = assistant.answer(QUESTION, Conversation("example-check"))
    assert response.answer_id is None
    assert assistant.review.queue(QueueFilter(status="all")).total == 0


# --- the queue -------------------------------------------------------------------------------------

def test_queue_puts_what_needs_a_human_first(assistant: Assistant, client: TestClient) -> None:
    _, passage = seed_passage(assistant)
    quoted = next(s for s, _ in split_answer(passage) if "25家" in s)
    new = crafted(assistant, "概念验证平台布局在哪里？", f"{quoted}[1]", evidence=0.9)
    low = crafted(assistant, "概念验证平台有什么服务能力？", f"{quoted}[1]", evidence=0.35)
    weak = crafted(assistant, "概念验证平台有多少家？", "天津建有30家平台。[1]", evidence=0.9)
    refused = assistant.ask(UNRELATED).answer_id
    unhelpful = crafted(assistant, "概念验证体系包括什么？", f"{quoted}[1]")
    reviewed = crafted(assistant, "概念验证平台重点在哪个领域？", f"{quoted}[1]")
    handed = crafted(assistant, "概念验证平台由谁建设？", f"{quoted}[1]")
    for answer_id, helpful in ((unhelpful, False), (new, True)):
        assert client.post("/api/feedback", json={"answer_id": answer_id, "helpful": helpful, "comment": "没回答到点上",
                                                  "conversation_id": conversation_of(assistant, answer_id)}
                           ).status_code == 200
    verdict(client, reviewed, verdict="correct")
    first_handoff = client.post("/api/handoff", json={"answer_id": handed, "contact": "测试联系人 000-0000",
                                                      "conversation_id": conversation_of(assistant, handed)})
    assert first_handoff.status_code == 200
    conversation = conversation_of(assistant, new)
    second_handoff = client.post("/api/handoff", json={"conversation_id": conversation, "contact": "test@example.invalid",
                                                       "question": "想找人当面咨询概念验证平台"}).json()

    order = queue(client)
    assert order == [(handed, "handoff"), (second_handoff["answer_id"], "handoff"), (unhelpful, "unhelpful"),
                     (refused, "refused"), (low, "low_evidence"), (weak, "low_evidence"), (new, "new")]
    assert (reviewed, "reviewed") in queue(client, status="all") and queue(client, status="reviewed") == [
        (reviewed, "reviewed")]
    body = client.get("/api/review/queue", headers=AS_LIAISON).json()
    assert [i["needs_human"] for i in body["items"]] == [True] * 6 + [False] and body["total"] == 7

    # Filters: status, search over questions, document, dates.
    assert queue(client, status="refused") == [(refused, "refused")]
    assert queue(client, q="护照 签证") == [(refused, "refused")]
    assert queue(client, q="当面咨询") == [(second_handoff["answer_id"], "handoff")]
    # The refusal cites nothing and lists no passage under the relevance floor: no document is tied to it.
    assert {i for i, _ in queue(client, document=SEED_SOURCE)} == {handed, unhelpful, low, weak, new}
    assert {i for i, _ in queue(client, document="中试平台建设助推")} == {handed, unhelpful, low, weak, new}
    assert queue(client, document="没有这个文件") == []
    today = datetime.now(CHINA).date()
    assert len(queue(client, date_from=str(today), date_to=str(today))) == 7
    assert queue(client, date_from=str(today + timedelta(days=1))) == []
    assert queue(client, date_to=str(today - timedelta(days=1))) == []
    assert client.get("/api/review/queue", headers=AS_LIAISON, params={"date_from": "yesterday"}).status_code == 422

    # A verdict takes an item out; a later "not helpful" puts it back.
    verdict(client, new, verdict="correct")
    assert new not in {i for i, _ in queue(client)}
    client.post("/api/feedback", json={"answer_id": new, "helpful": False,
                                       "conversation_id": conversation_of(assistant, new)})
    assert (new, "unhelpful") in queue(client)


def test_item_shows_each_sentence_beside_its_passage_with_support(assistant: Assistant, client: TestClient) -> None:
    _, passage = seed_passage(assistant)
    quoted = next(s for s, _ in split_answer(passage) if "25家" in s)
    answer_id = crafted(assistant, "概念验证平台有多少家？", f"{quoted}[1]天津共建成30家概念验证平台。[1]另有补充说明。")
    detail = client.get(f"/api/review/items/{answer_id}", headers=AS_LIAISON).json()
    first, changed, uncited = detail["sentences"]
    assert first["text"] == quoted and first["cites"] == [1] and first["support"] == 1.0 and not first["weak"]
    (start, end), = first["passages"][0]["highlights"]
    assert detail["citations"][0]["text"][start:end] == quoted  # the cited words, highlighted in the passage
    assert changed["weak"] and changed["missing_figures"] == ["30"] and 0 < changed["support"] < 1
    assert changed["passages"][0]["highlights"]  # the words it shares with the passage
    assert uncited["cites"] == [] and uncited["support"] == 0 and uncited["weak"]
    assert detail["item"]["status"] == "low_evidence"
    assert client.get("/api/review/items/999999", headers=AS_LIAISON).status_code == 404


def test_support_scores() -> None:
    passage = "布局建设中关村硬创空间等25家行业概念验证平台，重点在生物医药领域。"
    quoted, reordered, unrelated = answer_support(
        "布局建设中关村硬创空间等25家行业概念验证平台。[1]生物医药领域是重点。[1]出国旅游需要护照。[1]", {1: passage}, 0.6)
    assert quoted.support == 1.0 and not quoted.weak
    assert 0.6 <= reordered.support < 1.0 and not reordered.weak
    assert unrelated.support < 0.3 and unrelated.weak
    assert split_answer("甲句内容。[1][2]乙句内容。[3]") == [("甲句内容。", [1, 2]), ("乙句内容。", [3])]


# --- curated answers -------------------------------------------------------------------------------

def test_correction_is_served_for_the_same_and_a_paraphrased_question_only(
        assistant: Assistant, client: TestClient) -> None:
    first = client.post("/api/ask", json={"question": QUESTION}).json()
    hits = client.get("/api/review/search", headers=AS_LIAISON, params={"q": "概念验证平台 布局建设"}).json()
    chunk_id = hits["passages"][0]["chunk_id"]
    passage = hits["passages"][0]["citation"]["text"]
    quoted = next(s for s, _ in split_answer(passage) if "25家" in s)
    corrected = f"天津开展了概念验证平台和中试平台建设等工作。{quoted}[1]"
    rejected = client.post(f"/api/review/items/{first['answer_id']}/verdict", headers=AS_LIAISON,
                           json={"verdict": "needs_change", "corrected_answer": corrected,
                                 "citations": [{"n": 1, "chunk_id": chunk_id}]})
    assert rejected.status_code == 400 and "every sentence must cite" in rejected.json()["detail"]
    corrected = f"{quoted}[1]"
    result = verdict(client, first["answer_id"], verdict="needs_change", note="答复应先说概念验证平台",
                     corrected_answer=corrected, citations=[{"n": 1, "chunk_id": chunk_id}])
    assert result["curated_id"] and result["curated_stale"] is None

    for question in (QUESTION, "请问，天津在中试平台建设方面开展了哪些工作", PARAPHRASE):
        served = client.post("/api/ask", json={"question": question}).json()
        assert served["reviewed"] is True and served["answer"] == corrected, question
        (citation,) = served["citations"]
        assert citation["document"]["source"] == SEED_SOURCE and citation["text"] == passage
        assert [citation["text"][s:e] for s, e in citation["highlights"]] == [quoted]
        assert served["answer_id"] and served["answer_id"] != first["answer_id"]
    for question in (UNRELATED, NEAR_MISS):
        other = client.post("/api/ask", json={"question": question}).json()
        assert other["reviewed"] is False and other["answer"] != corrected, question

    # Served curated answers are logged as reviewed and stay out of the open queue.
    assert first["answer_id"] not in {i for i, _ in queue(client)}
    assert (served["answer_id"], "reviewed") in queue(client, status="all")
    detail = client.get(f"/api/review/items/{served['answer_id']}", headers=AS_LIAISON).json()
    assert detail["item"]["reviewed"] and detail["origin"] == "curated"

    # A follow-up is matched in its resolved form, and the conversation keeps its subject.
    follow = client.post("/api/ask", json={"question": "那下一步有什么安排？",
                                           "conversation_id": served["conversation_id"]}).json()
    assert follow["reviewed"] is False and "中试平台" in follow["query"]

    # Judging the served answer wrong retires the curated answer.
    verdict(client, served["answer_id"], verdict="incorrect", note="不再适用")
    again = client.post("/api/ask", json={"question": QUESTION}).json()
    assert again["reviewed"] is False


def test_question_normalisation_and_figures() -> None:
    assert normalize_question("请问：天津 在中试平台建设方面开展了哪些工作呢？") == normalize_question(QUESTION)
    assert normalize_question("ＡＢＣ　企业？") == "abc企业"
    assert not figures_agree("2023年末科技保险风险保障是多少？", "2022年末科技保险风险保障是多少？")
    assert not figures_agree("促进科技成果转化法第十条", "促进科技成果转化法第11条")
    assert figures_agree("促进科技成果转化法第十条", "促进科技成果转化法第10条")
    assert figures_agree("天津一共建了几家概念验证平台？", "天津布局建设了多少家概念验证平台？")


SYNTHETIC_A = """测试用虚构文本（非真实政策，仅供自动化测试）
一、虚构测试园区
虚构测试园区共设置测试工位12个，每个工位配备一名测试管理员。
二、虚构申请流程
申请使用测试工位的单位，应当提前5个工作日通过测试系统提交申请。
"""
SYNTHETIC_B = """测试用虚构文本之二（非真实政策，仅供自动化测试）
一、虚构培训安排
虚构培训每季度举办一次，每次培训名额为40人。
"""


def write_doc(corpus: Path, name: str, title: str, text: str) -> None:
    (corpus / f"{name}.txt").write_text(text, encoding="utf-8")
    (corpus / f"{name}.meta.yaml").write_text(f"title: {title}\nissuer: 测试机构（虚构）\ndate: '2000-01-01'\n",
                                              encoding="utf-8")


def test_curated_answer_goes_stale_when_a_reindex_changes_its_document(tmp_path: Path, embedder: object) -> None:
    from assistant.indexing.service import run_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_doc(corpus, "synthetic-a", "测试用虚构通知甲（非真实政策）", SYNTHETIC_A)
    write_doc(corpus, "synthetic-b", "测试用虚构通知乙（非真实政策）", SYNTHETIC_B)
    base = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "data")
    assert run_index(base).usable
    settings = review_settings(base, tmp_path / "data")
    assistant = Assistant(settings)
    client = TestClient(create_app(settings, assistant=assistant, ui=False))
    try:
        questions = {"a": "虚构测试园区设置了多少个测试工位？", "b": "虚构培训每次有多少名额？"}
        answered = {k: client.post("/api/ask", json={"question": q}).json() for k, q in questions.items()}
        for key, body in answered.items():
            assert body["refused"] is False and body["citations"], body
            assert verdict(client, body["answer_id"], verdict="correct")["curated_id"]
            assert client.post("/api/ask", json={"question": questions[key]}).json()["reviewed"] is True
        assert queue(client) == []

        # Revise one document, remove the other; re-index through the API as a maintainer.
        write_doc(corpus, "synthetic-a", "测试用虚构通知甲（非真实政策）", SYNTHETIC_A.replace("12个", "16个"))
        (corpus / "synthetic-b.txt").unlink()
        (corpus / "synthetic-b.meta.yaml").unlink()
        assert client.post("/api/index/reindex", headers=AS_LIAISON).status_code == 403
        started = client.post("/api/index/reindex", headers=AS_MAINTAINER)
        assert started.status_code == 202 and started.json()["state"] in ("running", "done")
        status = client.app.state.reindex_job.wait(120)
        assert status.state == "done" and status.started_by == "测试维护", status
        assert client.get("/api/index/reindex", headers=AS_MAINTAINER).json()["version"] == status.version

        stale = queue(client)
        assert stale == [(answered["a"]["answer_id"], "stale"), (answered["b"]["answer_id"], "stale")]
        reasons = [client.get(f"/api/review/items/{i}", headers=AS_LIAISON).json()["curated"][-1] for i, _ in stale]
        assert [r["status"] for r in reasons] == ["stale", "stale"]
        assert "已修订" in reasons[0]["reason"] and "已从索引中移除" in reasons[1]["reason"]
        again = client.post("/api/ask", json={"question": questions["a"]}).json()
        assert again["reviewed"] is False and "16" in again["answer"]

        # A new verdict with the current text makes a new curated answer; the item leaves the queue.
        hit = client.get("/api/review/search", headers=AS_LIAISON, params={"q": "测试工位"}).json()["passages"][0]
        sentence = next(s for s, _ in split_answer(hit["citation"]["text"]) if "16个" in s)
        verdict(client, answered["a"]["answer_id"], verdict="needs_change", corrected_answer=f"{sentence}[1]",
                citations=[{"n": 1, "chunk_id": hit["chunk_id"]}])
        assert queue(client) == [(answered["b"]["answer_id"], "stale"), (again["answer_id"], "new")]
        served = client.post("/api/ask", json={"question": questions["a"]}).json()
        assert served["reviewed"] is True and "16个" in served["answer"]
    finally:
        assistant.review.close()


# --- hand-offs and feedback ------------------------------------------------------------------------

def test_handoff_reaches_the_top_and_the_reply_reaches_the_conversation(
        assistant: Assistant, client: TestClient) -> None:
    crafted(assistant, "概念验证平台布局在哪里？", "x")
    refused = client.post("/api/ask", json={"question": UNRELATED}).json()
    conversation = refused["conversation_id"]
    created = client.post("/api/handoff", json={"answer_id": refused["answer_id"], "contact": "测试联系人 000-0000",
                                                "conversation_id": conversation})
    assert created.status_code == 200 and "conversation_id" not in created.json()  # no way to others' replies
    assert queue(client)[0] == (refused["answer_id"], "handoff")
    public = client.get(f"/api/conversations/{conversation}/handoffs").json()
    assert [(h["status"], h["question"], h["reply"]) for h in public["handoffs"]] == [("open", UNRELATED, None)]
    assert "contact" not in json.dumps(public)  # the contact line is for the liaison only

    detail = client.get(f"/api/review/items/{refused['answer_id']}", headers=AS_LIAISON).json()
    assert detail["handoffs"][0]["contact"] == "测试联系人 000-0000"
    handoff_id = detail["handoffs"][0]["id"]
    reply = client.post(f"/api/review/handoffs/{handoff_id}/answer", headers=AS_LIAISON,
                        json={"answer": "护照和签证不属于已收录政策的范围，请咨询出入境管理部门。"})
    assert reply.status_code == 200
    public = client.get(f"/api/conversations/{conversation}/handoffs").json()["handoffs"]
    assert public[0]["status"] == "answered" and public[0]["reply"]["answer"].startswith("护照和签证不属于")
    assert (refused["answer_id"], "refused") in queue(client)  # still wants a verdict

    # A question handed off without an answer; the verdict's reply answers it.
    other = client.post("/api/handoff", json={"conversation_id": conversation, "question": "能否电话联系我？",
                                               "contact": "测试联系人"}).json()
    assert queue(client)[0] == (other["answer_id"], "handoff")
    pending = verdict(client, other["answer_id"], verdict="correct", note="需要电话联系")
    assert pending["handoffs_pending"] == [other["id"]] and queue(client)[0] == (other["answer_id"], "handoff")
    result = verdict(client, other["answer_id"], verdict="correct", reply="已电话联系。")
    assert result["handoffs_answered"] == [other["id"]] and result["curated_id"] is None
    public = client.get(f"/api/conversations/{conversation}/handoffs").json()["handoffs"]
    assert [h["reply"]["answer"] for h in public] == ["护照和签证不属于已收录政策的范围，请咨询出入境管理部门。", "已电话联系。"]
    assert other["answer_id"] not in {i for i, _ in queue(client)}
    assert client.get(f"/api/conversations/{'0' * 32}/handoffs").json()["handoffs"] == []


def test_feedback_and_handoff_input_errors(assistant: Assistant, client: TestClient) -> None:
    asked = assistant.ask(QUESTION)
    answer_id, mine = asked.answer_id, asked.conversation_id
    assert answer_id is not None
    assert client.post("/api/feedback", json={"answer_id": 424242, "helpful": True,
                                              "conversation_id": mine}).status_code == 404
    assert client.post("/api/feedback", json={"answer_id": answer_id, "conversation_id": mine}).status_code == 422
    lone_surrogate = (f'{{"answer_id": {answer_id}, "helpful": true, "comment": "\\ud800好", '
                      f'"conversation_id": "{mine}"}}')  # valid JSON
    assert client.post("/api/feedback", content=lone_surrogate.encode(),
                       headers={"content-type": "application/json"}).status_code == 422
    assistant.review.feedback(answer_id, True, "\ud800好", mine)  # stored even if a caller lets one through
    assert assistant.review.item(answer_id).feedback[0].comment == "\ufffd好"
    assert client.post("/api/handoff", json={"contact": "x", "conversation_id": mine}).status_code == 400
    assert client.post("/api/handoff", json={"answer_id": answer_id, "conversation_id": mine}).status_code == 422
    assert client.post("/api/handoff", json={"answer_id": answer_id, "contact": "   ",
                                             "conversation_id": mine}).status_code == 400
    bad = client.post(f"/api/review/items/{answer_id}/verdict", headers=AS_LIAISON,
                      json={"verdict": "needs_change", "corrected_answer": "某句。[2]", "citations": []})
    assert bad.status_code == 400 and "[2]" in bad.json()["detail"]
    bad = client.post(f"/api/review/items/{answer_id}/verdict", headers=AS_LIAISON,
                      json={"verdict": "needs_change", "corrected_answer": "某句。[1]",
                            "citations": [{"n": 1, "chunk_id": "no-such-chunk"}]})
    assert bad.status_code == 400 and "not in the live index" in bad.json()["detail"]
    assert client.post(f"/api/review/items/{answer_id}/verdict", headers=AS_LIAISON,
                       json={"verdict": "maybe"}).status_code == 422


# --- export ----------------------------------------------------------------------------------------

def test_export_csv_and_jsonl(assistant: Assistant, client: TestClient) -> None:
    formula = assistant.ask("=HYPERLINK(\"http://example.invalid\") 概念验证平台有多少家？").answer_id
    answered = assistant.ask(QUESTION)
    verdict(client, answered.answer_id, verdict="correct", note="核对无误")
    response = client.get("/api/review/export", headers=AS_LIAISON, params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[formula]["question"].startswith("'=HYPERLINK")  # not a formula in a spreadsheet
    row = by_id[answered.answer_id]
    assert row["status"] == "reviewed" and row["last_verdict"] == "correct" and row["last_verdict_by"] == "测试专员"
    assert json.loads(row["documents"])[0]["source"] == SEED_SOURCE and json.loads(row["citations"])

    lines = client.get("/api/review/export", headers=AS_LIAISON, params={"format": "jsonl", "table": "verdicts"})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    (record,) = [json.loads(line) for line in lines.text.splitlines()]
    assert record["answer_id"] == answered.answer_id and record["note"] == "核对无误" and record["reviewer"] == "测试专员"
    answers = [json.loads(line) for line in client.get("/api/review/export", headers=AS_LIAISON,
                                                       params={"format": "jsonl"}).text.splitlines()]
    assert {a["id"] for a in answers} == {formula, answered.answer_id}
    assert all("contact" not in a for a in answers)


# --- access ----------------------------------------------------------------------------------------

def _routes(routes: list[Any]) -> Iterator[tuple[str, set[str]]]:
    """Every (path, methods) of the app, through included routers of any FastAPI version."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _routes(route.effective_candidates())
        elif getattr(route, "path", None) and getattr(route, "methods", None):
            yield route.path, set(route.methods) - {"HEAD", "OPTIONS"}


def test_every_protected_route_needs_a_valid_token(client: TestClient) -> None:
    protected = sorted((path, method) for path, methods in _routes(client.app.routes) for method in methods
                       if path.startswith(("/api/review", "/api/index")))
    assert {p for p, _ in protected} >= {"/api/review/queue", "/api/review/items/{answer_id}",
                                         "/api/review/items/{answer_id}/verdict", "/api/review/search",
                                         "/api/review/export", "/api/review/handoffs/{handoff_id}/answer",
                                         "/api/index/reindex"}
    wrong = [{}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Basic {LIAISON}"},
             {"Authorization": "Bearer"}, {"Authorization": f"Bearer {hash_token(LIAISON)}"}]
    for path, method in protected:
        url = re.sub(r"\{[^}]+\}", "1", path)
        for headers in wrong:
            response = client.request(method, url, headers=headers, params={"q": "x"}, json={})
            assert response.status_code == 401, (method, url, headers, response.text)
            assert response.json() == {"detail": "unauthorized"}, (method, url)
    # The right token opens them; a liaison may not re-index, a maintainer may also review.
    assert client.get("/api/review/queue", headers=AS_LIAISON).status_code == 200
    assert client.get("/api/review/queue", headers=AS_MAINTAINER).status_code == 200
    assert client.post("/api/index/reindex", headers=AS_LIAISON).json() == {"detail": "forbidden"}
    assert client.get("/api/index/reindex", headers=AS_LIAISON).status_code == 403
    assert client.get("/api/index/reindex", headers=AS_MAINTAINER).json()["state"] == "idle"
    # The enterprise side needs none.
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200
    assert client.get(f"/api/conversations/{'0' * 32}/handoffs").status_code == 200


def test_tokens_are_configured_as_digests(seed_index: Settings, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    plain = review_settings(seed_index, tmp_path / "data", liaison_tokens=[LIAISON], maintainer_tokens=[])
    checker = TokenChecker(plain)
    assert checker.identify(LIAISON) is None and checker.identify(None) is None  # a plain token is not a digest
    assert TokenChecker(seed_index).identify("") is None  # no tokens configured: nobody passes
    hashed = TokenChecker(review_settings(seed_index, tmp_path / "data"))
    assert hashed.identify(MAINTAINER).role == Role.MAINTAINER and hashed.identify(LIAISON).role == Role.LIAISON
    from_env = Settings(_env_file=None, liaison_tokens=f"a:{hash_token('x')}, {hash_token('y')}")  # type: ignore[call-arg]
    assert [p.name for p in map(TokenChecker(from_env).identify, ["x", "y"])] == ["a", f"liaison-{hash_token('y')[:8]}"]
    assert auth_main(["hash", "secret"]) == 0
    assert capsys.readouterr().out.strip() == hash_token("secret")

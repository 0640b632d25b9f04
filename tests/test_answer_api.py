"""The answer path and the HTTP API contract, on the seed document and a real statute."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from langchain_core.documents import Document

from assistant.answer.base import AnswerRequest, ComposedAnswer, Delta
from assistant.api.app import create_app
from assistant.catalog import document_id
from assistant.indexing.service import run_index
from assistant.indexing.snapshot import LiveIndex
from assistant.retrieve.retriever import HybridRetriever, Retriever
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.text import sentences
from tests.lawdb import copy_seed, write_law

SEED_TITLE = "关于以中试平台建设助推新型工业化建设提质增效的提案的答复"
LAW = "中华人民共和国促进科技成果转化法"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> Settings:
    root = tmp_path_factory.mktemp("answer")
    corpus = copy_seed(root / "corpus")
    write_law(corpus, LAW, "促进科技成果转化法")
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data")
    report = run_index(settings)
    assert report.usable and report.count("skipped") == 0
    return settings


@pytest.fixture(scope="module")
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, ui=False))


def answer_parts(answer: str) -> list[tuple[str, int]]:
    return [(text, int(n)) for text, n in re.findall(r"(.+?)\[(\d+)\]", answer, re.S)]


def assert_grounded(body: dict) -> None:
    """Every sentence of the answer is in the passage it cites, and the highlights point at it."""
    parts = answer_parts(body["answer"])
    assert parts, body["answer"]
    by_n = {c["n"]: c for c in body["citations"]}
    for text, n in parts:
        passage = by_n[n]["text"]
        assert text in passage, (text, n)
        assert any(passage[s:e] == text for s, e in by_n[n]["highlights"])


def test_seed_question_answered_with_citation(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": "天津布局建设了多少家概念验证平台？"})
    assert response.status_code == 200
    body = response.json()
    assert body["refused"] is False
    assert "25" in body["answer"] and "[1]" in body["answer"]
    first = body["citations"][0]
    assert first["document"]["title"] == SEED_TITLE
    assert first["document"]["date"] == "2024-04-25"
    assert first["document"]["issuer"] == "天津市人民政府"
    assert first["locator"] == "一、工作开展情况"
    highlighted = [first["text"][s:e] for s, e in first["highlights"]]
    assert any("25家行业概念验证平台" in h for h in highlighted)
    assert_grounded(body)
    for field in ("conversation_id", "query", "index_version"):
        assert body[field]


def assert_linked(client: TestClient, citation: dict, settings: Settings, root: str = "") -> None:
    """A citation names its document by id and links its page (at the passage, cited spans marked) and
    its original file, and both links answer."""
    document = citation["document"]
    doc_id = document_id(document["source"])
    assert document["id"] == doc_id
    assert document["status"] and (document["in_force"] is (document["status"] not in ("已废止", "被替代")))
    url, original = citation["url"], citation["original_url"]
    assert url.startswith(f"{root}/documents/{doc_id}?p={doc_id}") and f"#p-{doc_id}" in url, url
    page = client.get(url.removeprefix(root))
    assert page.status_code == 200 and 'class="passage cited"' in page.text
    for start, end in citation["highlights"]:  # the page marks what the answer cites
        assert f"<mark>{citation['text'][start:end][:20]}" in page.text
    assert original == f"{root}/documents/{doc_id}/original"
    body = client.get(original.removeprefix(root))
    assert body.status_code == 200 and body.content == (settings.corpus_dir / document["source"]).read_bytes()


def test_citations_carry_document_id_page_original_and_status(client: TestClient, settings: Settings) -> None:
    body = client.post("/api/ask", json={"question": "天津布局建设了多少家概念验证平台？"}).json()
    assert body["refused"] is False and body["citations"]
    for cited in body["citations"]:
        assert_linked(client, cited, settings)
    seed = body["citations"][0]["document"]
    assert seed["title"] == SEED_TITLE and seed["status"] == "现行有效"  # no stated status: in force
    law = client.post("/api/ask", json={"question": "促进科技成果转化法第十条是怎么规定的？"}).json()
    assert law["citations"][0]["document"]["status"] == "现行有效"  # as the statute's record states
    assert_linked(client, law["citations"][0], settings)
    found = client.get("/api/search", params={"q": "科技成果转化 财政资金", "k": 2}).json()["passages"]
    for passage in found:
        assert_linked(client, passage, settings)


def test_citation_links_follow_the_root_path(settings: Settings) -> None:
    """Behind a proxy prefix the links start with it (the proxy strips it before the app)."""
    prefixed = TestClient(create_app(settings, ui=False), root_path="/policy")
    body = prefixed.post("/api/ask", json={"question": "天津布局建设了多少家概念验证平台？"}).json()
    assert_linked(prefixed, body["citations"][0], settings, root="/policy")


def test_out_of_scope_question_is_refused(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "出国旅游怎么办理护照和签证？"}).json()
    assert body["refused"] is True
    assert "没有找到" in body["answer"] and "服务专员" in body["answer"]
    assert not re.search(r"\[\d+\]", body["answer"])  # nothing is claimed
    assert body["citations"] == []  # nothing is claimed from any passage
    assert "份文件" in body["answer"]  # it says what the index covers


def test_follow_up_keeps_its_subject(client: TestClient) -> None:
    first = client.post("/api/ask", json={"question": "天津在中试平台建设方面开展了哪些工作？"}).json()
    follow = client.post(
        "/api/ask", json={"question": "那下一步有什么安排？", "conversation_id": first["conversation_id"]}
    ).json()
    assert follow["conversation_id"] == first["conversation_id"]
    assert "中试平台" in follow["query"] and "下一步" in follow["query"]
    assert follow["refused"] is False
    assert any(c["locator"] == "二、下一步工作安排" for c in follow["citations"])
    assert_grounded(follow)


@pytest.mark.parametrize("question", [
    "促进科技成果转化法第十条是怎么规定的？",
    "中华人民共和国促进科技成果转化法第10条是怎么规定的？",
    "促进科技成果转化法第 10 条",
])
def test_article_lookup_in_both_number_forms(client: TestClient, question: str) -> None:
    body = client.post("/api/ask", json={"question": question}).json()
    assert body["refused"] is False
    first = body["citations"][0]
    assert first["document"]["title"] == LAW
    assert "第十条" in first["locator"].split(" > ")[-1].split("、")
    assert body["answer"].startswith("第十条 利用财政资金设立应用类科技项目")
    assert "第九条" not in body["answer"]  # a merged neighbour is cited but not quoted
    assert_grounded(body)


def test_article_follow_up_uses_the_law_of_the_conversation(client: TestClient) -> None:
    first = client.post("/api/ask", json={"question": "促进科技成果转化法第十条是怎么规定的？"}).json()
    body = client.post("/api/ask", json={"question": "第十一条呢？",
                                          "conversation_id": first["conversation_id"]}).json()
    assert body["citations"][0]["document"]["title"] == LAW
    assert "第十一条" in body["citations"][0]["locator"]


def test_missing_article_is_named_not_replaced_by_a_neighbour(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "促进科技成果转化法第九百条是怎么规定的？"}).json()
    assert body["refused"] is True
    assert "第九百条" in body["answer"] and "没有" in body["answer"]
    assert body["citations"] == []


def test_search_returns_passages_shaped_like_citations(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "科技成果转化 财政资金", "k": 3})
    assert response.status_code == 200
    passages = response.json()["passages"]
    assert 1 <= len(passages) <= 3
    for p in passages:
        assert {"n", "document", "locator", "text", "highlights", "score"} <= set(p)
        assert {"title", "doc_number", "issuer", "date", "status", "source"} <= set(p["document"])


def test_documents_and_health(client: TestClient) -> None:
    docs = client.get("/api/documents").json()["documents"]
    titles = {d["document"]["title"]: d for d in docs}
    assert SEED_TITLE in titles and LAW in titles
    assert titles[LAW]["chunks"] > 10
    assert titles[LAW]["document"]["status"] == "现行有效"
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["documents"] == 2 and health["model"] == "m3e-small"
    assert health["index_version"]


@pytest.mark.parametrize(("body", "status"), [
    ({"question": ""}, 422),
    ({"question": "   \n\t "}, 400),
    ({"question": "\x00\x01"}, 400),
    ({"question": 123}, 422),
    ({"question": ["a"]}, 422),
    ({}, 422),
    ({"question": "中试" * 1000}, 400),
    ({"question": "中试", "conversation_id": "no-such-conversation"}, 404),
    ({"question": "中试", "top_k": 0}, 422),
    ({"question": "中试", "top_k": "many"}, 422),
])
def test_bad_input_gets_a_4xx_with_a_message(client: TestClient, body: dict, status: int) -> None:
    response = client.post("/api/ask", json=body)
    assert response.status_code == status
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


@pytest.mark.parametrize("invisible", ["\u200b\u202e\ufeff", " \u200b\u3000\ufeff\n\u2066\u202c "])
def test_a_question_of_invisible_characters_is_refused_and_not_logged(client: TestClient, invisible: str) -> None:
    log = client.app.state.assistant.review.log  # type: ignore[attr-defined]
    before = log.scalar("SELECT COUNT(*) FROM answers")
    for response in (client.post("/api/ask", json={"question": invisible}),
                     client.post("/api/chat/stream", json={"question": invisible}),
                     client.get("/api/search", params={"q": invisible})):
        assert response.status_code == 400, response.text
        assert "invisible characters" in response.json()["detail"]
    assert log.scalar("SELECT COUNT(*) FROM answers") == before  # nothing answered, nothing logged
    # Inside a real question they are dropped: the override cannot reach the log or the retrieval.
    body = client.post("/api/ask", json={"question": "天津布局建设了\u202e多少家概念验证平台？\u200b"}).json()
    assert "\u202e" not in body["query"] and "\u200b" not in body["query"] and "25" in body["answer"]
    assert log.scalar("SELECT COUNT(*) FROM answers") == before + 1
    question = log.scalar("SELECT question FROM answers ORDER BY id DESC LIMIT 1")
    assert question == "天津布局建设了多少家概念验证平台？"


def test_malformed_json_and_bad_search_params(client: TestClient) -> None:
    response = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert client.get("/api/search", params={"q": ""}).status_code == 422
    assert client.get("/api/search", params={"q": "中试", "k": 1000}).status_code == 422
    assert client.get("/api/search", params={"q": "   "}).status_code == 400


def test_stream_sends_retrieval_then_answer_then_final(client: TestClient) -> None:
    with client.stream("POST", "/api/chat/stream", json={"question": "天津布局建设了多少家概念验证平台？"}) as response:
        assert response.status_code == 200
        raw = "".join(response.iter_text())
    events = re.findall(r"event: (\w+)\r?\ndata: (.*?)\r?\n\r?\n", raw, re.S)
    names = [name for name, _ in events]
    assert names[0] == "retrieval" and names[-1] == "final" and "delta" in names
    deltas = "".join(json.loads(data)["text"] for name, data in events if name == "delta")
    final = json.loads(events[-1][1])
    assert deltas == final["answer"] and "25" in final["answer"]
    preview = json.loads(events[0][1])["passages"]
    assert preview and all(p["document_id"] and p["url"].startswith(f"/documents/{p['document_id']}?p=")
                           for p in preview)
    assert all(c["url"] and c["original_url"] and c["document"]["id"] for c in final["citations"])


def test_stream_rejects_bad_input_before_streaming(client: TestClient) -> None:
    assert client.post("/api/chat/stream", json={"question": " "}).status_code == 400


def test_library_answer_matches_api(settings: Settings) -> None:
    response = Assistant(settings).ask("天津设置了多少名服务专员？")
    assert not response.refused and "249" in response.answer


class FirstSentenceAnswerer:
    """A stand-in for a remote LLM answerer, at the Answerer protocol boundary: it streams the first
    sentence of the best passage in two halves, as a model would stream tokens."""

    name = "first-sentence"

    def stream(self, request: AnswerRequest) -> Iterator[Delta | ComposedAnswer]:
        start, end, text = sentences(request.passages[0].page_content, min_chars=4)[0]
        half = len(text) // 2
        yield Delta(text[:half])
        yield Delta(text[half:] + "[1]")
        yield ComposedAnswer(f"{text}[1]", [0], {0: [(start, end)]})


def test_another_answerer_plugs_in_and_streams_through_the_api(settings: Settings) -> None:
    client = TestClient(create_app(settings, Assistant(settings, answerer=FirstSentenceAnswerer()), ui=False))
    with client.stream("POST", "/api/chat/stream", json={"question": "天津布局建设了多少家概念验证平台？"}) as response:
        raw = "".join(response.iter_text())
    events = re.findall(r"event: (\w+)\r?\ndata: (.*?)\r?\n\r?\n", raw, re.S)
    deltas = [json.loads(data)["text"] for name, data in events if name == "delta"]
    final = json.loads(events[-1][1])
    assert len(deltas) == 2 and "".join(deltas) == final["answer"]  # streamed as the answerer yielded
    assert_grounded(final)


def test_the_langchain_retriever_answers_invoke(settings: Settings) -> None:
    retriever = HybridRetriever(retriever=Retriever(LiveIndex(settings)), k=3)
    docs = retriever.invoke("天津布局建设了多少家概念验证平台？")
    assert 1 <= len(docs) <= 3 and all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["title"] == SEED_TITLE and "25" in docs[0].page_content
    same = Assistant(settings).search("天津布局建设了多少家概念验证平台？", k=3)
    assert [d.page_content for d in docs] == [c.text for c in same]  # one retrieval for every caller

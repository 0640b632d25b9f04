"""The cross-encoder: training lowers its loss and the export serves what torch scores; the served
retriever reranks through it, inside the ranking's rules (a named article stays first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.errors import AssistantError
from assistant.rerank.cross_encoder import CrossEncoderReranker, reranker_for
from assistant.rerank.fusion import fuse_orders
from training.data import Group, read_groups, write_pack
from training.fit import FitConfig

TINY = FitConfig(epochs=12, batch_groups=4, max_length=48, lr=3e-4, warmup=0.0)

# Obviously synthetic texts (not policy): each question's positive names what it asks about.
SYNTHETIC = [
    ("合成问题：蓝色方块有几个角？", "合成样例：蓝色方块有四个角。"),
    ("合成问题：红色圆球会滚动吗？", "合成样例：红色圆球放在斜面上会滚动。"),
    ("合成问题：绿色三角形有几条边？", "合成样例：绿色三角形有三条边。"),
    ("合成问题：黄色星星在哪里？", "合成样例：黄色星星挂在夜空中。"),
]


def synthetic_groups() -> list[Group]:
    """Each question with its positive first and the other questions' positives as negatives."""
    passages = [p for _, p in SYNTHETIC]
    return [Group(q, [p, *[x for x in passages if x != p]], "synthetic", fold=i % 2)
            for i, (q, p) in enumerate(SYNTHETIC)]


def test_fusion_keeps_the_hybrid_order_for_ties_and_follows_a_confident_reader() -> None:
    assert fuse_orders(3, np.array([0.0, 0.0, 0.0]), 1.0) == [0, 1, 2]
    assert fuse_orders(3, np.array([0.1, 0.2, 9.0]), float("inf")) == [2, 1, 0]
    # equal weight: the reader's first and the hybrid's first share the top, the hybrid breaks the tie
    assert fuse_orders(3, np.array([0.0, 0.0, 9.0]), 1.0)[:2] == [0, 2]
    assert fuse_orders(0, np.array([]), 1.0) == []


def test_a_pack_reads_back_as_the_groups_it_was_made_of(tmp_path: Path) -> None:
    groups = synthetic_groups()
    candidates = [{"key": "synthetic:0", "fold": 0, "query": groups[0].query, "passages": groups[0].passages}]
    write_pack(groups, candidates, tmp_path / "t.pack.json.gz")
    back = read_groups(tmp_path / "t.pack.json.gz")
    assert [(g.query, g.passages, g.fold) for g in back] == [(g.query, g.passages, g.fold) for g in groups]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A tiny cross-encoder trained from the bundled encoder on the synthetic groups, and its record."""
    from assistant.embed import resolve_model
    from training.fit import fit

    root = tmp_path_factory.mktemp("reranker")
    record = fit(synthetic_groups(), resolve_model("m3e-small"), root / "model", TINY, device="cpu", log=lambda _: None)
    return root, record


def test_training_lowers_the_loss_and_the_int8_export_serves_the_same_order(trained: tuple[Path, dict[str, Any]]
                                                                             ) -> None:
    from training.export import export
    from training.fit import score_pairs

    root, record = trained
    assert record["loss_last"] < record["loss_first"] * 0.7, record
    written = export(root / "model", root / "served", TINY, name="synthetic")
    assert written["bytes"] < 30 * 2**20
    served = CrossEncoderReranker(root / "served")
    for question, positive in SYNTHETIC:
        passages = [p for _, p in SYNTHETIC]
        onnx = served.score(question, passages)
        torch_scores = score_pairs(root / "model", question, passages, TINY, device="cpu")
        assert passages[int(np.argmax(onnx))] == positive
        assert int(np.argmax(onnx)) == int(np.argmax(torch_scores))


def test_the_setting_turns_reranking_off_and_names_a_folder_without_a_model(tmp_path: Path) -> None:
    assert reranker_for("off") is None
    with pytest.raises(AssistantError, match=str(tmp_path)):
        reranker_for(str(tmp_path))


def test_served_retrieval_reranks_inside_the_rules(library_index: Any, trained: tuple[Path, dict[str, Any]]) -> None:
    from assistant.indexing.snapshot import LiveIndex
    from assistant.retrieve.retriever import HybridRetriever, Retriever, make_retriever
    from training.export import export

    root, _ = trained
    if not (root / "served" / "model.onnx").exists():
        export(root / "model", root / "served", TINY, name="synthetic")
    # the synthetic model's order means nothing here: the rules around it are what is checked
    settings = library_index.model_copy(update={"reranker": str(root / "served"), "rerank_weight": float("inf")})
    index = LiveIndex(settings)
    reranked = make_retriever(settings, index)
    assert reranked.reranker is not None
    # an article asked for by number stays first, whatever the reader thinks of it
    lookup = reranked.retrieve("促进科技成果转化法第十条是怎么规定的？", 5).docs
    assert lookup[0].metadata["exact"] and "第十条" in lookup[0].metadata["articles"].split("、")
    question = "全市有多少家技术转移机构？"
    docs = reranked.retrieve(question, 5).docs
    assert all("rerank" in d.metadata for d in docs)
    # the reader reorders the hybrid ranking's candidates; it adds none
    pool = {d.id for d in Retriever(index).retrieve(question, settings.rerank_candidates).docs}
    assert {d.id for d in docs} <= pool
    # the order is the reader's (weight inf): its scores fall down the list
    scores = [d.metadata["rerank"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    # LangChain apps get the same passages through the BaseRetriever
    assert [d.id for d in HybridRetriever(retriever=reranked, k=5).invoke(question)] == [d.id for d in docs]


def test_the_same_kind_of_file_serves_as_the_answer_reader(trained: tuple[Path, dict[str, Any]]) -> None:
    """One training kit, two uses: an exported cross-encoder loads as the reader, and the composer
    quotes the unit it scores highest (a verbatim span, cited)."""
    from langchain_core.documents import Document

    from assistant.answer.base import AnswerRequest
    from assistant.answer.extractive import ExtractiveAnswerer
    from assistant.answer.reader import reader_for
    from training.export import export

    root, _ = trained
    if not (root / "served" / "model.onnx").exists():
        export(root / "model", root / "served", TINY, name="synthetic")
    reader = reader_for(str(root / "served"))
    assert reader is not None
    text = "".join(p for _, p in SYNTHETIC)
    doc = Document(page_content=text, metadata={"title": "合成示例", "locator": "第1段", "ordinal": 0})
    composed = ExtractiveAnswerer(reader).compose(AnswerRequest(SYNTHETIC[2][0], SYNTHETIC[2][0], [doc]))
    first = composed.text.split("[1]")[0]
    start, end = composed.highlights[0][0]
    assert text[start:end] == first and first in text

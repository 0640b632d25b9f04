"""Shared fixtures: the embedding model (loaded once per session), settings under tmp_path, the seed corpus."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.embed import SentenceTransformerEmbeddings, embedder_for
from assistant.settings import Settings
from tests.lawdb import copy_seed


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbeddings:
    """The bundled m3e-small model as the settings load it (`get_embedder` caches it, so run_index and
    the server in this process reuse it)."""
    return embedder_for(Settings(_env_file=None))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Factory: Settings whose corpus, index and data folders live under tmp_path (or under `root`)."""

    def make(root: Path | None = None, **overrides: Any) -> Settings:
        base = root or tmp_path
        values: dict[str, Any] = {
            "corpus_dir": base / "corpus",
            "index_dir": base / "index",
            "data_dir": base / "data",
        }
        values.update(overrides)
        Path(values["corpus_dir"]).mkdir(parents=True, exist_ok=True)
        return Settings(**values)

    return make


@pytest.fixture
def seed_corpus(tmp_path: Path) -> Path:
    """A corpus folder holding a copy of the seed document and its .meta.yaml."""
    return copy_seed(tmp_path / "seed-corpus")


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbeddings) -> Settings:
    """The seed corpus indexed once per session; returns its Settings. Treat it as read-only."""
    from assistant.indexing.service import run_index

    root = tmp_path_factory.mktemp("seed-index")
    settings = Settings(corpus_dir=copy_seed(root / "corpus"), index_dir=root / "index", data_dir=root / "data")
    report = run_index(settings)
    assert report.published and report.usable, report.to_dict()
    return settings


CHROMIUM = Path("/usr/bin/chromium")  # Debian's; playwright cannot download browsers here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (skipped, with the reason, when not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium): the browser test needs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- the quick loop ---------------------------------------------------------------------------------
# `pytest -m "not slow"` runs what needs no model, index, server process or browser. A test is slow
# when it uses a fixture that loads one (directly or through another fixture), or lives in a module
# that builds indexes or starts processes in its tests.
SLOW_FIXTURES = frozenset({"embedder", "seed_index", "library_index", "browser"})
SLOW_MODULES = frozenset({"test_index", "test_faults", "test_reindex_kill", "test_scale_out", "test_fuzz_api",
                          "test_vector_contract", "test_embed_onnx", "test_rerank", "test_upload_api", "test_hostile_input", "test_documents_api",
                           "test_state_contract", "test_shared_workers"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:  # type: ignore[attr-defined]
            item.add_marker(pytest.mark.slow)


SYNTHETIC = "synthetic-escaping-check.txt"
TECH_LAW = "中华人民共和国促进科技成果转化法"


@pytest.fixture(scope="session")
def library_index(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbeddings) -> Settings:
    """Seed document, the 促进科技成果转化法 (a neighbour for related documents) and a synthetic file whose
    metadata is markup (escaping checks), indexed once per session. Read-only: copy it to change it."""
    from assistant.indexing.service import run_index
    from tests.lawdb import law_text

    root = tmp_path_factory.mktemp("library-index")
    corpus = copy_seed(root / "corpus")
    text, _ = law_text(TECH_LAW)
    (corpus / "tech-transfer-law.txt").write_text(text, encoding="utf-8")
    (corpus / SYNTHETIC).write_text(
        "（测试用合成文本，不是真实政策。）\n第一条 <script>alert(1)</script> 本条只用于检验页面是否转义。\n", encoding="utf-8")
    (corpus / f"{SYNTHETIC[:-4]}.meta.yaml").write_text(
        'title: "<b>合成测试文件</b>"\ndoc_number: "\\"><img src=x onerror=alert(1)>"\nissuer: "<i>测试机关</i>"\n',
        encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data")
    report = run_index(settings)
    assert report.published and report.usable and report.documents == 3, report.to_dict()
    return settings


ARTEFACTS = Path(__file__).resolve().parents[1] / ".pytest_artifacts"


@pytest.fixture(scope="session")
def screens() -> Callable[..., Path]:
    """Save a screenshot of a Playwright page as .pytest_artifacts/screens/NAME.png (git-ignored), to look
    at after the run: the full page, or with full_page=False what the screen shows (a phone's view)."""
    folder = ARTEFACTS / "screens"
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(page: Any, name: str, full_page: bool = True) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return shoot

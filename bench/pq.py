"""The policyqa eval set (../shared/eval/policyqa): questions, corpus halves, normalisation, ROUGE-L.

Read from the shared folder at run time; nothing of it is copied into the project.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (CI), or beside an ancestor (a git worktree under wt/).
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "eval").is_dir()), ROOT.parent / "shared")
POLICYQA = SHARED / "eval" / "policyqa"


def normalise(text: str) -> str:
    """Whitespace removed, NFKC: how answers are compared with gold spans."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def in_half(docid: str) -> bool:
    """The half index holds the documents whose md5(docid), as an integer, is even."""
    return int(hashlib.md5(docid.encode()).hexdigest(), 16) % 2 == 0


def load_questions(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or POLICYQA / "dev.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def corpus_texts(folder: Path | None = None) -> dict[str, str]:
    folder = folder or POLICYQA / "corpus"
    return {p.stem: normalise(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.txt"))}


def answerable_in_half(rows: list[dict[str, Any]], texts: dict[str, str]) -> list[bool]:
    """A question is answerable on the half index exactly when its gold span is in an indexed document."""
    half = [t for d, t in texts.items() if in_half(d)]
    return [any(normalise(r["answer"]) in t for t in half) for r in rows]


def lcs(a: str, b: str) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, gold: str) -> tuple[float, float, float]:
    """Character ROUGE-L (precision, recall, F1) after normalisation."""
    c, g = normalise(candidate), normalise(gold)
    n = lcs(c, g)
    if not n:
        return 0.0, 0.0, 0.0
    p, r = n / len(c), n / len(g)
    return p, r, 2 * p * r / (p + r)

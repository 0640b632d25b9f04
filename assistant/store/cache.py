"""Content-addressed cache of vectors and tokens, so no chunk text is embedded or tokenized twice.

Keyed by (model or tokenizer id, sha256 of the embedded text). Lives beside the versions and
outlives them, so rollbacks and rebuilds reuse it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np


class ContentCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vec BLOB, PRIMARY KEY (model, hash))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tokens (tokenizer TEXT, hash TEXT, tokens TEXT, PRIMARY KEY (tokenizer, hash))"
        )
        self._db.commit()

    def get_vectors(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        keys = list(dict.fromkeys(hashes))
        for i in range(0, len(keys), 500):
            batch = keys[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT hash, vec FROM vectors WHERE model=? AND hash IN ({marks})", [model, *batch]
            )
            for digest, blob in rows:
                found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_vectors(self, model: str, items: dict[str, np.ndarray]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
            [(model, digest, np.asarray(vec, dtype=np.float32).tobytes()) for digest, vec in items.items()],
        )
        self._db.commit()

    def get_tokens(self, tokenizer: str, hashes: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        keys = list(dict.fromkeys(hashes))
        for i in range(0, len(keys), 500):
            batch = keys[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT hash, tokens FROM tokens WHERE tokenizer=? AND hash IN ({marks})", [tokenizer, *batch]
            )
            for digest, tokens in rows:
                found[digest] = tokens.split("\x1f") if tokens else []
        return found

    def put_tokens(self, tokenizer: str, items: dict[str, list[str]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)",
            [(tokenizer, digest, "\x1f".join(tokens)) for digest, tokens in items.items()],
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()

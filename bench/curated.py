"""Calibrate the semantic threshold for serving a curated answer (assistant/review/curated.py).

    nice -n 10 python -m bench.curated [MODEL]

The question pairs are assistant/review/calibrate.py's (enterprise-style questions written for this
purpose; no policy text): paraphrases (the curated answer should be served), near misses (same
topic, a different ask: it must not be served) and unrelated questions. Prints the cosine
similarity of each kind under the configured model (or MODEL), after the same normalisation and
figures guard curated.py applies, what each threshold from 0.80 to 0.99 and the configured one
serves, and the closest near misses and farthest paraphrases; saves the same to
bench/results/curated-calibration.json (another model: curated-calibration-<model>.json).

The figures are in-sample: the configured threshold (settings.curated_threshold) was chosen on these
very pairs. Encoding the ~160 short questions takes seconds.
"""

from __future__ import annotations

import sys

import numpy as np

from assistant.review.calibrate import NEAR_MISSES, PARAPHRASES, UNRELATED, report
from bench.helpers import results_name, write_results


def served(sims: dict[str, np.ndarray], threshold: float) -> dict[str, float | int]:
    """What one threshold serves of each kind."""
    paraphrases = int(np.sum(sims["paraphrase"] >= threshold))
    near, unrelated = int(np.sum(sims["near miss"] >= threshold)), int(np.sum(sims["unrelated"] >= threshold))
    return {"threshold": round(float(threshold), 3), "paraphrases_served": paraphrases,
            "paraphrases": len(sims["paraphrase"]),
            "paraphrases_served_share": round(paraphrases / len(sims["paraphrase"]), 4),
            "near_misses_served": near, "near_misses": len(sims["near miss"]),
            "unrelated_served": unrelated, "unrelated": len(sims["unrelated"]), "wrong_served": near + unrelated}


def main(model: str | None = None) -> None:
    from assistant.embed import get_embedder
    from assistant.settings import Settings

    settings = Settings()
    model = model or settings.model
    embedder = get_embedder(model, settings.embed_batch_size)
    sims = report(embedder.encode)
    kinds = {}
    for kind, values in sims.items():
        kinds[kind.replace(" ", "_")] = {
            "n": len(values), "min": round(float(values.min()), 4), "p10": round(float(np.percentile(values, 10)), 4),
            "median": round(float(np.median(values)), 4), "max": round(float(values.max()), 4)}
        print(f"{kind:11s} n={len(values):3d} min={values.min():.3f} p10={np.percentile(values, 10):.3f} "
              f"median={np.median(values):.3f} max={values.max():.3f}")
    ceiling = float(max(sims["near miss"].max(), sims["unrelated"].max()))
    table = [served(sims, t) for t in sorted({*np.round(np.arange(0.80, 0.991, 0.01), 2), settings.curated_threshold})]
    for row in table:
        print(f"threshold {row['threshold']:.3f}: paraphrases served {row['paraphrases_served_share']:.0%} "
              f"({row['paraphrases_served']} of {row['paraphrases']}), near misses served {row['near_misses_served']} "
              f"of {row['near_misses']}, unrelated served {row['unrelated_served']} of {row['unrelated']}")
    print(f"highest non-paraphrase similarity: {ceiling:.3f} (configured: {settings.curated_threshold})")
    closest = [{"similarity": round(float(sims["near miss"][i]), 4), "pair": list(NEAR_MISSES[i])}
               for i in np.argsort(-sims["near miss"])[:5]]
    farthest = [{"similarity": round(float(sims["paraphrase"][i]), 4), "pair": list(PARAPHRASES[i])}
                for i in np.argsort(sims["paraphrase"])[:5]]
    for row in closest:
        print(f"  near miss {row['similarity']:.3f}: {' | '.join(row['pair'])}")
    for row in farthest:
        print(f"  paraphrase {row['similarity']:.3f}: {' | '.join(row['pair'])}")
    write_results(results_name("curated-calibration", model), {
        "model": model, "in_sample": True, "configured_threshold": settings.curated_threshold,
        "pairs": {"paraphrase": len(PARAPHRASES), "near_miss": len(NEAR_MISSES), "unrelated": len(UNRELATED)},
        "similarity": kinds, "highest_non_paraphrase": round(ceiling, 4),
        "at_configured": served(sims, settings.curated_threshold), "thresholds": table,
        "closest_near_misses": closest, "farthest_paraphrases": farthest})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

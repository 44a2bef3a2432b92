"""The fixed split of the 36 tabular benchmark datasets into a development half and a
confirmation half. Defaults, portfolios and rules are tuned on the development half only;
a change is accepted when the confirmation half agrees.

The rule, applied once (2026-12-06) and never re-drawn:
1. The 15 datasets of the earlier side-by-side runs (``TUNED_BEFORE``) were already tuned
   on, so they go to the development half. The confirmation half then holds only datasets
   no default was chosen on.
2. The other 21 are ordered within each task (binary, multiclass, regression) by the
   SHA-256 of ``"accelml-protocol-1:" + name``. They are dealt to the development half
   until it holds 18 datasets, then to the confirmation half, task by task in turn, so each
   half keeps a share of every task.
3. (Added 2026-12-07.) The ten datasets of the 300 s runs (``long``) are five of each
   half: within each half, ordered within each task by the SHA-256 of
   ``"accelml-protocol-300:" + name`` and dealt task by task in turn (binary, multiclass,
   regression), so each five holds every task.

  .venv/bin/python bench/protocol.py        # writes bench/protocol.json and prints the halves

One contamination remains and is for the work that uses the halves to remove. The
zero-shot portfolio (``accelml/tabular/zeroshot.json``) was learned over all 36 datasets,
each one's own row left out when it is used. Confirmation runs must use a portfolio learned
on the development half only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "bench" / "protocol.json"
SALT = "accelml-protocol-1:"
LONG_SALT = "accelml-protocol-300:"
HALF = 18
LONG_PER_HALF = 5
TUNED_BEFORE = ("abalone", "adult", "bank_marketing", "california_housing", "cnae_9",
                "cpu_act", "credit_approval", "credit_g", "kc1", "phoneme", "satimage",
                "segment", "spambase", "vehicle", "wine_quality")


def tabular_tasks() -> dict[str, str]:
    """Every tabular dataset's task, by name."""
    index = json.loads((DATA / "index.json").read_text())["datasets"]
    return {entry["name"]: entry["task"] for entry in index if entry["modality"] == "tabular"}


def deal(queues: list[list[str]], count: int) -> list[str]:
    """Up to ``count`` names taken from the queues' fronts in turn (one task after another);
    what is taken leaves its queue."""
    taken: list[str] = []
    while len(taken) < count and any(queues):
        for queue in queues:
            if queue and len(taken) < count:
                taken.append(queue.pop(0))
    return taken


def split(tasks: dict[str, str]) -> dict[str, list[str]]:
    """The two halves by the rule in this module's docstring."""
    development = [name for name in TUNED_BEFORE if name in tasks]
    rest: dict[str, list[str]] = {}
    for name, task in sorted(tasks.items()):
        if name not in development:
            rest.setdefault(task, []).append(name)
    for names in rest.values():
        names.sort(key=lambda n: hashlib.sha256((SALT + n).encode()).hexdigest())
    queues = [rest[task] for task in sorted(rest)]
    development += deal(queues, HALF - len(development))
    confirmation = sorted(name for queue in queues for name in queue)
    return {"development": sorted(development), "confirmation": confirmation}


def long_budget(names: list[str], tasks: dict[str, str]) -> list[str]:
    """The datasets of one half run at 300 s, by rule 3 of this module's docstring."""
    by_task: dict[str, list[str]] = {}
    for name in names:
        by_task.setdefault(tasks[name], []).append(name)
    queues = [sorted(by_task[task],
                     key=lambda n: hashlib.sha256((LONG_SALT + n).encode()).hexdigest())
              for task in sorted(by_task)]
    return sorted(deal(queues, LONG_PER_HALF))


def main() -> None:
    tasks = tabular_tasks()
    halves = split(tasks)
    long = sorted(name for names in halves.values() for name in long_budget(names, tasks))
    record = {"rule": __doc__.split("\n\n")[1].strip(), "tuned_before": list(TUNED_BEFORE),
              **halves, "long": long,
              "tasks": {half: {t: sum(tasks[n] == t for n in names)
                               for t in sorted(set(tasks.values()))}
                        for half, names in halves.items()}}
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    for half, names in halves.items():
        print(f"{half} ({len(names)}): {', '.join(names)}")
    print(f"long ({len(long)}): {', '.join(long)}")
    print(record["tasks"])


if __name__ == "__main__":
    main()

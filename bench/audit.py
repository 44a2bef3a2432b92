"""The data audit over every tabular benchmark dataset in ../shared/datasets/tabular: the
train split audited with the test split as ``test`` and the dataset's own task, timed; a
markdown table of the findings by severity with the high and medium ones spelled out.

  .venv/bin/python bench/audit.py --out bench/results_explain/audit.md

The reading of the findings (which are real, which were false alarms and how the rules were
fixed) is written by hand below the table, under "Reading".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from accelml.explain.audit import SEVERITIES, Finding, audit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "tabular"
READING = "## Reading"


def audit_dataset(folder: Path) -> dict[str, object]:
    """One dataset's audit: shape, seconds and findings (the files read outside the clock)."""
    meta = json.loads((folder / "meta.json").read_text())
    train = pd.read_parquet(folder / "train.parquet")
    test = pd.read_parquet(folder / "test.parquet")
    start = time.perf_counter()
    findings = audit(train, meta["target"], task=meta["task"], test=test, seed=0)
    seconds = time.perf_counter() - start
    return {"name": folder.name, "rows": len(train), "columns": train.shape[1],
            "seconds": seconds, "findings": findings}


def row(result: dict[str, object]) -> str:
    findings: list[Finding] = result["findings"]  # type: ignore[assignment]
    counts = [sum(f.severity == s for f in findings) for s in SEVERITIES]
    shown = [f"**{f.severity}** {f.check}: {f.message}".replace("|", "\\|")
             for f in findings if f.severity != "low"]
    return (f"| {result['name']} | {result['rows']:,} × {result['columns']} | "
            f"{result['seconds']:.3f} | {' / '.join(map(str, counts))} | "
            f"{'<br>'.join(shown) or '—'} |")


def low_lines(results: list[dict[str, object]]) -> list[str]:
    """The low findings, listed after the table (informational)."""
    lines = ["## Low findings", ""]
    for result in results:
        for f in result["findings"]:  # type: ignore[attr-defined]
            if f.severity == "low":
                lines.append(f"- {result['name']}: {f.check}: {f.message}")
    return lines


def render(results: list[dict[str, object]], reading: str) -> str:
    total = sum(float(r["seconds"]) for r in results)  # type: ignore[arg-type]
    slowest = max(results, key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
    head = [
        "# The data audit on the tabular benchmark datasets", "",
        "`accelml.explain.audit.audit(train, target, task=meta task, test=test)` on each "
        "dataset of shared/datasets/tabular; seconds are the audit alone (files read "
        "before the clock), on this machine's 2 cores while other work ran. Counts are "
        "high / medium / low.", "",
        f"Command: `.venv/bin/python bench/audit.py --out bench/results_explain/audit.md`; "
        f"{len(results)} datasets, {total:.2f} s in all, slowest {slowest['name']} "
        f"({float(slowest['seconds']):.2f} s).", "",  # type: ignore[arg-type]
        "| dataset | train rows × columns | seconds | findings h / m / l | high and medium "
        "findings |", "|---|---|---:|---|---|",
    ]
    return "\n".join([*head, *map(row, results), "", *low_lines(results), "",
                      reading.rstrip(), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results_explain/audit.md")
    parser.add_argument("datasets", nargs="*", help="names (default: every tabular dataset)")
    args = parser.parse_args()
    folders = sorted(p for p in DATA.iterdir() if (p / "meta.json").is_file())
    if args.datasets:
        folders = [f for f in folders if f.name in args.datasets]
    audit(pd.DataFrame({"x": range(30), "y": [0, 1] * 15}), "y")  # one-time imports
    results = []
    for folder in folders:
        results.append(audit_dataset(folder))
        print(row(results[-1]), flush=True)
    old = args.out.read_text() if args.out.is_file() else ""
    reading = old[old.index(READING):] if READING in old else f"{READING}\n\n(to write)\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, reading))


if __name__ == "__main__":
    main()

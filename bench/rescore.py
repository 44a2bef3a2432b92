"""Rank new runs of some systems against the other systems' scores in a committed table.

A side-by-side run of every peer takes about an hour at 60 s on 15 datasets; when only
AccelML changed, its new rows can be ranked against the peers' test scores as a RESULTS.md
section recorded them (same machine, data, splits and budget):

  .venv/bin/python bench/rescore.py --results bench/RESULTS.md \\
      --section "Tabular side by side on 15 datasets, 60 s, repeated" \\
      --rows bench/results60n/tabular.jsonl

Systems in ``--rows`` replace their columns of the table; the others keep the table's scores
(their fit time, overrun and latency are not in the table, so they are left blank).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tabular import summary_markdown  # noqa: E402


def table_rows(results: Path, section: str) -> list[dict]:
    """Rows (dataset, system, metric, score) of the first table under the heading that
    starts with ``section``."""
    lines = results.read_text().splitlines()
    start = next((i for i, line in enumerate(lines)
                  if line.startswith("## ") and line[3:].startswith(section)), None)
    if start is None:
        raise SystemExit(f"no section starting with {section!r} in {results}")
    table = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("| dataset | metric"):
            table = [line]
        elif table and line.startswith("|"):
            table.append(line)
        elif table:
            break
    systems = [cell.strip() for cell in table[0].strip("|").split("|")][2:]
    rows = []
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for system, cell in zip(systems, cells[2:], strict=True):
            if cell and cell != "failed":
                rows.append({"dataset": cells[0], "system": system, "metric": cells[1],
                             cells[1]: float(cell.split()[0])})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--section", required=True)
    parser.add_argument("--rows", type=Path, required=True)
    args = parser.parse_args(argv)
    new = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    replaced = {row["system"] for row in new}
    old = [row for row in table_rows(args.results, args.section)
           if row["system"] not in replaced]
    datasets = {row["dataset"] for row in new}
    print(summary_markdown([row for row in old if row["dataset"] in datasets] + new))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

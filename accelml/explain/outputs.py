"""``accelml explain``'s folder: per-row reasons and contributions, permutation importance,
partial dependence and (images) saliency maps, written into a staging folder first and
moved into place whole, so a failure leaves nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from accelml.core.predictor import Predictor
from accelml.errors import ConfigError
from accelml.explain.inputs import check_frame, sample_rows

SUMMARY = "summary.json"
#: Columns drawn with partial dependence (the most important ones).
DEPENDENCE_COLUMNS = 3


def check_explain_folder(folder: Path) -> None:
    """Refuse a folder that exists, is not empty and holds no earlier explanation."""
    if folder.exists() and (not folder.is_dir() or (
            any(folder.iterdir()) and not (folder / SUMMARY).is_file())):
        raise ConfigError(f"{folder} exists and is not an earlier `accelml explain` output; "
                          "choose a new or empty folder (nothing was written)")


def write_explanations(predictor: Predictor, data: Any, folder: Path, *, max_rows: int = 1000,
                       top: int = 3, seed: int = 0) -> dict[str, Any]:
    """Explain ``data`` into ``folder`` (replacing an earlier explanation there) and return
    the summary also written as ``summary.json``."""
    check_explain_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        writer = _write_images if predictor.preprocessor.kind == "image" else _write_rows
        summary = writer(predictor, data, staging, max_rows, top, seed)
        (staging / SUMMARY).write_text(json.dumps(summary, indent=1, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def predict_with_reasons(predictor: Predictor, source: Path, output: Path, *, top: int,
                         max_rows: int, proba: bool) -> int:
    """``accelml predict --explain``: the rows of ``source`` with the prediction, class
    probabilities and the top reasons of each answer, written to ``output`` (refused
    before any work when the file has more than ``max_rows`` rows)."""
    from accelml.core.modality import get_modality
    from accelml.explain.reasons import check_row_count
    from accelml.io import write_table

    if predictor.preprocessor.kind == "image":
        raise ConfigError("image answers are explained by saliency maps: use `accelml "
                          "explain MODEL IMAGES -o FOLDER`")
    frame = get_modality(predictor.preprocessor.kind).read_labelled(source)
    check_row_count(len(frame), max_rows)
    reasons = predictor.explain(frame, top=top, max_rows=max_rows)
    result = frame.reset_index(drop=True).copy()
    result["prediction"] = reasons["prediction"].to_numpy()
    if proba and predictor.task.kind.is_classification:
        probabilities = predictor.predict_proba(frame).to_numpy()
        for index, label in enumerate(predictor.classes):
            result[f"proba_{label}"] = probabilities[:, index]
    for column in [c for c in reasons.columns if c.startswith("reason_")]:
        result[column] = reasons[column].to_numpy()
    write_table(result, output)
    return len(result)


def _write_rows(predictor: Predictor, data: Any, staging: Path, max_rows: int, top: int,
                seed: int) -> dict[str, Any]:
    """Tables and texts: reasons.csv, and for tables contributions.csv, importance.csv
    (labelled data), dependence.csv and .png."""
    frame = check_frame(predictor, data)
    sample = sample_rows(frame, max_rows, seed)
    summary: dict[str, Any] = {"rows": len(frame), "explained_rows": len(sample)}
    if len(sample) < len(frame):
        summary["note"] = (f"explained a random sample of {len(sample)} of {len(frame)} rows "
                           "(--max-rows raises it)")
    if predictor.preprocessor.kind != "tabular":
        reasons = predictor.explain(sample, top=top, max_rows=len(sample))
        reasons.to_csv(staging / "reasons.csv", index=False)
        summary.update({k: reasons.attrs.get(k) for k in ("output", "method", "exact")})
        return summary
    from accelml.explain.contributions import contributions
    from accelml.explain.reasons import with_reasons

    found = contributions(predictor, sample, seed=seed)
    with_reasons(predictor, sample, found, top).to_csv(staging / "reasons.csv", index=False)
    found.frame().to_csv(staging / "contributions.csv", index=False)
    summary.update(output=found.output, method=found.method, exact=found.exact)
    ranked = _ranked_columns(predictor, frame, found, staging, max_rows, seed, summary)
    _write_dependence(predictor, sample, ranked[:DEPENDENCE_COLUMNS], staging, seed)
    return summary


def _ranked_columns(predictor: Predictor, frame: pd.DataFrame, found: Any, staging: Path,
                    max_rows: int, seed: int, summary: dict[str, Any]) -> list[str]:
    """Columns by permutation importance on labelled rows, else by mean absolute SHAP."""
    if predictor.task.target in frame.columns and frame[predictor.task.target].notna().any():
        from accelml.explain.importance import permutation_importance

        table = permutation_importance(predictor, frame, max_rows=max_rows, seed=seed)
        table.to_csv(staging / "importance.csv", index=False)
        summary["importance"] = "permutation importance on the labelled rows given"
        return list(table["feature"])
    mean_abs = pd.Series(abs(found.values).mean(axis=0), index=found.columns)
    summary["importance"] = ("none: the rows have no target; columns ranked by mean "
                             "absolute contribution")
    return list(mean_abs.sort_values(ascending=False).index)


def _write_dependence(predictor: Predictor, sample: pd.DataFrame, columns: list[str],
                      staging: Path, seed: int) -> None:
    from accelml.explain.dependence import partial_dependence

    curves = partial_dependence(predictor, sample, columns, seed=seed)
    rows = [{"feature": c.feature, "value": value, "average": float(c.average[i]),
             "output": c.output} for c in curves for i, value in enumerate(c.grid)]
    pd.DataFrame(rows, columns=["feature", "value", "average", "output"]).to_csv(
        staging / "dependence.csv", index=False)
    if curves and _has_matplotlib():
        from accelml.explain.figures import dependence

        figure = dependence(curves)
        figure.savefig(staging / "dependence.png", dpi=90, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(figure)


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60]


def _write_images(predictor: Predictor, data: Any, staging: Path, max_rows: int, top: int,
                  seed: int) -> dict[str, Any]:
    """Images: answers.csv and one saliency PNG per image."""
    from accelml.explain.saliency import saliency, save_maps

    table, maps = saliency(predictor, data, max_rows=max_rows)
    ids = list(getattr(predictor.preprocessor, "last_ids", None) or range(len(table)))
    features = predictor._features(data)
    images = features.X.reshape(len(features), *features.item_shape)
    names = [f"{index:05d}_{_safe(str(name))}" for index, name in enumerate(ids)]
    save_maps(images, maps, names, staging / "saliency")
    table.insert(0, "id", ids)
    table["saliency_png"] = [f"saliency/{name}.png" for name in names]
    table.to_csv(staging / "answers.csv", index=False)
    return {"rows": len(table), "explained_rows": len(table), **table.attrs}

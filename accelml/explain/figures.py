"""The report's plots: each function returns a matplotlib Figure, drawn on the Agg canvas
(no display, no global pyplot state, so a user's own backend is left alone), and
:func:`figure_html` embeds one in the page as a PNG. matplotlib is imported inside the
functions: importing AccelML stays light, and only the report needs it.

The numbers come from scikit-learn's metric helpers (``roc_curve``,
``precision_recall_curve``, ``confusion_matrix``, ``calibration_curve``), so the curves
agree with what those functions compute elsewhere.
"""

from __future__ import annotations

import base64
import html
import io
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from accelml.errors import MissingDependencyError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: One colour per learner or class, in order (matplotlib's tab10, readable in print).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
#: Classes drawn at most in one-vs-rest curves (the most frequent ones).
MAX_CURVES = 10
#: Bars drawn at most in a bar chart (importance, members).
MAX_BARS = 20
#: Resolution of the embedded images.
DPI = 100
#: Bins of a reliability diagram.
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """One reliability curve: mean predicted probability and observed frequency per bin,
    with how many rows each bin holds (a point from five rows says little)."""

    label: str
    predicted: list[float]
    observed: list[float]
    counts: list[int]


def _new_figure(width: float = 6.4, height: float = 4.0, rows: int = 1, cols: int = 1,
                heights: Sequence[float] | None = None) -> tuple[Figure, np.ndarray]:
    """A Figure on an Agg canvas and its axes grid (always 2-D; ``heights``: the rows'
    relative heights)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("the report's figures need matplotlib: pip install "
                                     "'accelml[explain]'") from None
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    grid = {"height_ratios": list(heights)} if heights else None
    axes = figure.subplots(rows, cols, squeeze=False, gridspec_kw=grid)
    for axis in axes.flat:
        _style(axis)
    return figure, axes


def _style(axis: Axes) -> None:
    """A quiet look: no top and right frame, a light grid behind the data."""
    axis.spines["top"].set_visible(False)
    axis.spines["right"].set_visible(False)
    axis.grid(True, color="#e5e7eb", linewidth=0.8)
    axis.set_axisbelow(True)
    axis.tick_params(labelsize=9)


def _short(text: Any, width: int = 28) -> str:
    """A label cut to ``width`` characters, so long names don't squeeze the plot."""
    value = str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


def figure_html(figure: Figure, alt: str) -> str:
    """The figure as an ``<img>`` holding a base64 PNG (the page stays one offline file);
    the figure is closed, so a report of many figures holds no memory for them."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure a modality made with pyplot is registered there
        pyplot.close(figure)
    figure.clear()
    png = buffer.getvalue()
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
    data = base64.b64encode(png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
            f'width="{width}" height="{height}">')


def search_over_time(board: pd.DataFrame, metric: str, greater_is_better: bool) -> Figure:
    """The best score so far against the seconds since the run started: one step line per
    learner and the overall best, from the leaderboard's ``ended_s`` column."""
    ok = board[(board["status"] == "ok") & board[metric].notna() & board["ended_s"].notna()]
    ok = ok.sort_values("ended_s")
    figure, axes = _new_figure(7.2, 4.0)
    axis = axes[0, 0]
    end = float(ok["ended_s"].max()) if len(ok) else 0.0
    for index, (learner, trials) in enumerate(ok.groupby("learner", sort=True)):
        colour = PALETTE[index % len(PALETTE)]
        _best_steps(axis, trials, metric, greater_is_better, end,
                    {"color": colour, "linewidth": 1.4, "label": _short(learner)})
        axis.scatter(trials["ended_s"], trials[metric], s=12, color=colour, alpha=0.45)
    _best_steps(axis, ok, metric, greater_is_better, end,
                {"color": "black", "linewidth": 2.4, "label": "overall best"})
    axis.margins(x=0.05)
    axis.set_xlabel("seconds since the run started")
    axis.set_ylabel(f"best {metric} so far")
    axis.legend(fontsize=8, frameon=False, loc="best")
    return figure


def _best_steps(axis: Axes, trials: pd.DataFrame, metric: str, greater_is_better: bool,
                end: float, style: dict[str, Any]) -> None:
    """A step line of the running best, carried on to ``end``."""
    scores = trials[metric].astype(float)
    best = scores.cummax() if greater_is_better else scores.cummin()
    x = [*trials["ended_s"].astype(float), end]
    y = [*best, best.iloc[-1]] if len(best) else []
    if y:
        axis.step(x, y, where="post", **style)


def ensemble_members(names: Sequence[str], weights: Sequence[float]) -> Figure:
    """Each member's weight in the blend, largest on top."""
    order = np.argsort(np.asarray(weights, dtype=float))[-MAX_BARS:]
    figure, axes = _new_figure(6.4, 0.9 + 0.35 * len(order))
    axis = axes[0, 0]
    axis.barh([_short(names[i], 40) for i in order], [weights[i] for i in order],
              color=PALETTE[0])
    axis.set_xlabel("weight in the blend")
    return figure


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]) -> Figure:
    """Counts of each (actual, predicted) class pair, with the share of the actual class."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
    size = min(2.4 + 0.5 * len(classes), 9.0)
    figure, axes = _new_figure(size + 0.9, size)
    axis = axes[0, 0]
    axis.grid(False)
    axis.imshow(matrix, cmap="Blues")
    totals = matrix.sum(axis=1, keepdims=True).clip(min=1)
    dark = matrix.max() * 0.6
    for (row, col), count in np.ndenumerate(matrix):
        axis.text(col, row, f"{count}\n{count / totals[row, 0]:.0%}", ha="center",
                  va="center", fontsize=8, color="white" if count > dark else "black")
    labels = [_short(c, 16) for c in classes]
    axis.set_xticks(range(len(classes)), labels, rotation=30 if len(classes) > 3 else 0)
    axis.set_yticks(range(len(classes)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual")
    return figure


def _curve_classes(y: np.ndarray, classes: Sequence[Any],
                   positive_index: int | None) -> list[int]:
    """The classes to draw one-vs-rest: the positive one of a binary task, else the most
    frequent classes present alongside others."""
    if len(classes) == 2:
        return [1 if positive_index is None else positive_index]
    counts = np.bincount(y, minlength=len(classes))
    present = [c for c in np.argsort(-counts, kind="stable") if 0 < counts[c] < len(y)]
    return [int(c) for c in present[:MAX_CURVES]]


def roc(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any],
        positive_index: int | None) -> Figure:
    """The ROC curve (one-vs-rest per class for more than two classes), AUC in the legend."""
    from sklearn.metrics import auc, roc_curve

    figure, axes = _new_figure(4.6, 4.0)
    axis = axes[0, 0]
    for index, code in enumerate(_curve_classes(y, classes, positive_index)):
        fpr, tpr, _ = roc_curve(y == code, proba[:, code])
        axis.plot(fpr, tpr, color=PALETTE[index % len(PALETTE)], linewidth=1.6,
                  label=f"{_short(classes[code], 20)} (AUC {auc(fpr, tpr):.3f})")
    axis.plot([0, 1], [0, 1], linestyle="--", color="#9ca3af", linewidth=1, label="chance")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.legend(fontsize=8, frameon=False, loc="lower right")
    return figure


def precision_recall(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any],
                     positive_index: int | None) -> Figure:
    """Precision against recall per class drawn, average precision in the legend, and each
    class's share of rows (what a random ranking would reach) dotted."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    figure, axes = _new_figure(4.6, 4.0)
    axis = axes[0, 0]
    for index, code in enumerate(_curve_classes(y, classes, positive_index)):
        colour = PALETTE[index % len(PALETTE)]
        precision, recall, _ = precision_recall_curve(y == code, proba[:, code])
        score = average_precision_score(y == code, proba[:, code])
        axis.step(recall, precision, where="post", color=colour, linewidth=1.6,
                  label=f"{_short(classes[code], 20)} (AP {score:.3f})")
        axis.axhline(float(np.mean(y == code)), color=colour, linestyle=":", linewidth=1)
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_ylim(0, 1.03)
    axis.legend(fontsize=8, frameon=False, loc="lower left")
    return figure


def calibration_points(hits: np.ndarray, probability: np.ndarray, label: str,
                       bins: int = CALIBRATION_BINS) -> Calibration:
    """A reliability curve from outcomes (1 = the event happened) and their predicted
    probabilities: scikit-learn's ``calibration_curve`` over equal-width bins, with the
    rows of each non-empty bin counted the same way."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(hits, probability, n_bins=bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], probability), minlength=bins)
    return Calibration(label, [float(p) for p in predicted], [float(o) for o in observed],
                       [int(c) for c in counts[counts > 0]])


def calibration(curves: Sequence[Calibration], what: str) -> Figure:
    """Reliability diagram: observed frequency against mean predicted probability (the
    diagonal is perfect calibration), and below it how many rows each bin holds."""
    figure, axes = _new_figure(6.0, 5.2, rows=2, heights=(3, 1))
    top, bottom = axes[:, 0]
    top.plot([0, 1], [0, 1], linestyle="--", color="#9ca3af", linewidth=1,
             label="perfectly calibrated")
    width = 0.8 / (CALIBRATION_BINS * max(len(curves), 1))
    for index, curve in enumerate(curves):
        colour = PALETTE[index % len(PALETTE)]
        top.plot(curve.predicted, curve.observed, marker="o", markersize=4, color=colour,
                 linewidth=1.6, label=curve.label)
        offset = (index - (len(curves) - 1) / 2) * width
        bottom.bar(np.asarray(curve.predicted) + offset, curve.counts, width=width,
                   color=colour, alpha=0.8)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel(f"observed share of {_short(what, 30)}")
    top.legend(fontsize=8, frameon=False, loc="upper left")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("mean predicted probability")
    bottom.set_ylabel("rows")
    return figure


def residuals(actual: np.ndarray, predicted: np.ndarray, target: str) -> Figure:
    """Regression errors: predicted against actual values (the diagonal is exact), and
    the histogram of the residuals (actual - predicted)."""
    figure, axes = _new_figure(9.6, 4.0, cols=2)
    scatter, histogram = axes[0]
    scatter.scatter(actual, predicted, s=12, alpha=0.6, color=PALETTE[0])
    low = float(np.nanmin([np.nanmin(actual), np.nanmin(predicted)]))
    high = float(np.nanmax([np.nanmax(actual), np.nanmax(predicted)]))
    scatter.plot([low, high], [low, high], linestyle="--", color="#9ca3af", linewidth=1)
    scatter.set_xlabel(f"actual {_short(target)}")
    scatter.set_ylabel(f"predicted {_short(target)}")
    errors = np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)
    histogram.hist(errors, bins=min(40, max(10, len(errors) // 10)), color=PALETTE[0],
                   alpha=0.85)
    histogram.axvline(0.0, color="black", linewidth=1)
    histogram.set_xlabel("residual (actual - predicted)")
    histogram.set_ylabel("rows")
    return figure


def importance(frame: pd.DataFrame, metric: str) -> Figure:
    """Permutation importance: how much worse ``metric`` gets when each column is shuffled, with
    its standard deviation over the repeats; the most important on top."""
    shown = frame.head(MAX_BARS).iloc[::-1]
    figure, axes = _new_figure(6.8, 1.0 + 0.32 * len(shown))
    axis = axes[0, 0]
    axis.barh([_short(name, 34) for name in shown["feature"]], shown["importance"],
              xerr=shown["std"], color=PALETTE[0], ecolor="#374151", capsize=2)
    axis.axvline(0.0, color="black", linewidth=0.8)
    axis.set_xlabel(f"how much worse {metric} gets when the column is shuffled")
    return figure


def dependence(curves: Sequence[Any]) -> Figure:
    """Partial dependence (the average, thick) with ICE lines (one row each, thin) for each
    feature: how the prediction moves as one feature changes, the others held."""
    figure, axes = _new_figure(4.0 * max(len(curves), 1), 3.8, cols=max(len(curves), 1))
    for axis, curve in zip(axes[0], curves, strict=False):
        numeric = curve.kind == "numeric"
        x = np.asarray(curve.grid, dtype=float) if numeric else np.arange(len(curve.grid))
        individual = np.asarray(curve.individual, dtype=float)
        if individual.size:
            axis.plot(x, individual.T, color="#9ca3af", linewidth=0.6, alpha=0.35)
        axis.plot(x, np.asarray(curve.average, dtype=float), color=PALETTE[3], linewidth=2.4,
                  marker=None if numeric else "o", label="average")
        if not numeric:
            axis.set_xticks(x, [_short(v, 12) for v in curve.grid],
                            rotation=30 if len(x) > 4 else 0)
        axis.set_xlabel(_short(curve.feature, 34))
        axis.set_ylabel(_short(curve.output, 34))
    axes[0, 0].legend(fontsize=8, frameon=False)
    return figure


def slice_bars(table: pd.DataFrame, column: str, metric: str,
               greater_is_better: bool) -> Figure:
    """``metric`` per group of one slice column, with each group's rows; the best group
    green, the worst red."""
    part = table[table["column"] == column]
    values = part[metric].astype(float).to_numpy()
    figure, axes = _new_figure(max(4.8, 0.9 * len(part) + 2.0), 3.6)
    axis = axes[0, 0]
    colours = [PALETTE[0]] * len(part)
    if np.isfinite(values).sum() >= 2:
        best, worst = np.nanargmax(values), np.nanargmin(values)
        best, worst = (best, worst) if greater_is_better else (worst, best)
        colours[best], colours[worst] = PALETTE[2], PALETTE[3]
    positions = np.arange(len(part))
    axis.bar(positions, np.nan_to_num(values), color=colours)
    for position, value, rows in zip(positions, values, part["rows"], strict=True):
        text = f"{value:.3g}\nn={rows:,}" if np.isfinite(value) else f"n/a\nn={rows:,}"
        axis.text(position, np.nan_to_num(value), text, ha="center", va="bottom", fontsize=8)
    axis.set_xticks(positions, [_short(g, 16) for g in part["group"]],
                    rotation=30 if len(part) > 4 else 0)
    axis.set_ylabel(metric)
    axis.set_xlabel(_short(column, 40))
    axis.margins(y=0.2)
    return figure

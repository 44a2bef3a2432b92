"""The HTML report: each section and figure where it applies (and a reason where it does
not), user text escaped, one offline file, older models refused, sampling said, and nothing
written when building or writing fails.

Permutation importance, partial dependence and drift come from modules other engineers
own; these tests use small stand-ins for them (:func:`install_stand_ins`), so they check
how the report uses them, quickly and whatever those modules compute.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import accelml
from accelml.core.modality import ReportSection, registered_modalities
from accelml.core.predictor import Predictor
from accelml.errors import ArtifactError, ConfigError
from accelml.explain import report as report_module
from accelml.explain.audit import Finding
from accelml.explain.dependence import Dependence
from accelml.explain.report import build_report, write_report
from tests.explain.conftest import FittedCase

EVIL = "<script>alert(1)</script>"
SECTIONS = ("task", "audit", "leaderboard", "ensemble", "diagnostics", "metrics",
            "explanations", "slices", "cost")


@dataclass
class Calls:
    """What the stand-ins were called with."""

    importance: list[dict[str, Any]] = field(default_factory=list)
    dependence: list[dict[str, Any]] = field(default_factory=list)


def install_stand_ins(patch: pytest.MonkeyPatch) -> Calls:
    """Stand-ins for permutation importance, partial dependence and drift, with the
    signatures the report calls; they record their calls."""
    calls = Calls()

    def permutation_importance(predictor: Predictor, data: pd.DataFrame, *,
                               max_rows: int = 1000, n_repeats: int = 5,
                               seed: int = 0) -> pd.DataFrame:
        calls.importance.append({"rows": len(data), "max_rows": max_rows, "seed": seed})
        names = [str(c) for c in data.columns if c != predictor.task.target]
        values = np.linspace(0.1, 0.0, len(names))
        return pd.DataFrame({"feature": names, "importance": values, "std": values / 10})

    def partial_dependence(predictor: Predictor, data: pd.DataFrame, features: Sequence[str],
                           *, max_rows: int = 200, grid_points: int = 20,
                           seed: int = 0) -> list[Dependence]:
        calls.dependence.append({"features": list(features), "rows": len(data)})
        curves = []
        for name in features:
            numeric = pd.api.types.is_numeric_dtype(data[name])
            grid = (list(np.linspace(data[name].min(), data[name].max(), 5)) if numeric
                    else sorted(data[name].astype(str).unique()))
            individual = np.tile(np.linspace(0.2, 0.8, len(grid)), (6, 1))
            curves.append(Dependence(name, "numeric" if numeric else "categorical",
                                            grid, individual.mean(axis=0), individual, "P(x)"))
        return curves

    def drift(profile: dict[str, Any], data: pd.DataFrame) -> list[Finding]:
        return [Finding("drift", "warning", "mean_radius",
                               f"mean_radius moved ({len(data)} rows)", "retrain")]

    for name, functions in (("importance", [permutation_importance]),
                            ("dependence", [partial_dependence]), ("audit", [drift])):
        module = types.ModuleType(f"accelml.explain.{name}")
        for function in functions:
            setattr(module, function.__name__, function)
        patch.setitem(sys.modules, f"accelml.explain.{name}", module)
    return calls


@pytest.fixture(autouse=True)
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every test here runs on the stand-ins, whatever state the real modules are in."""
    return install_stand_ins(monkeypatch)


def sections(page: str) -> dict[str, bool]:
    """Section id -> whether it is skipped (shows only a reason)."""
    found = re.findall(r'<section id="([^"]+)" class="card( skipped)?">', page)
    return {key: bool(skipped) for key, skipped in found}


def image_alts(page: str) -> list[str]:
    return [html.unescape(alt) for alt in re.findall(r'<img [^>]*alt="([^"]*)"', page)]


def own_section(predictor: Predictor, data: Any) -> list[ReportSection]:
    """A modality's section with a paragraph, a table and a figure."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1], [1, 0])
    return [ReportSection("Column types <i>", ["numbers & <b>categories</b>"],
                          [pd.DataFrame({"kind": ["numeric"], "columns": [12]})], [figure])]


@dataclass(frozen=True)
class Built:
    page: str
    predictor: Predictor
    calls: Calls


@pytest.fixture(scope="module")
def binary_page(cancer_case: FittedCase) -> Iterator[Built]:
    """The binary model's report with every section: labelled data with a column named
    like a script, slices, an audit, diagnostics, a drift profile and a modality section."""
    predictor = accelml.load(cancer_case.model_dir)
    predictor.info["audit"] = [
        {"check": "constant", "severity": "info", "column": "id", "message": "one value",
         "action": "dropped"},
        {"check": "leak", "severity": "error", "column": EVIL, "message": f"{EVIL} leaks",
         "action": "drop it"}]
    predictor.info["diagnostics"] = {
        "metric": "roc_auc", "train_score": 1.0, "validation_score": 0.99, "gap": 0.01,
        "calibration": {"predicted": [0.05, 0.5, 0.95], "observed": [0.02, 0.6, 0.97],
                        "counts": [200, 20, 180]}}
    predictor.info["data_profile"] = {"columns": {}}
    data = cancer_case.test.assign(**{EVIL: np.where(np.arange(100) % 2, "<b>a</b>", "b")})
    with pytest.MonkeyPatch.context() as patch:
        calls = install_stand_ins(patch)
        tabular = registered_modalities()["tabular"]
        patch.setattr(type(tabular), "report_sections", lambda self, p, d: own_section(p, d))
        page = build_report(predictor, data, slice_by=["size_band", EVIL], seed=3)
    yield Built(page, predictor, calls)


@pytest.fixture(scope="module")
def regression_page(diabetes_case: FittedCase) -> Iterator[Built]:
    """The regression model's report on a sample of 60 of its 100 test rows."""
    predictor = accelml.load(diabetes_case.model_dir)
    predictor.info["diagnostics"] = {"metric": "rmse", "train_score": 20.0,
                                     "validation_score": 54.0, "gap": 34.0}
    with pytest.MonkeyPatch.context() as patch:
        calls = install_stand_ins(patch)
        page = build_report(predictor, diabetes_case.test, slice_by=["sex"], max_rows=60)
    yield Built(page, predictor, calls)


def test_the_binary_report_has_every_section_and_figure(binary_page: Built) -> None:
    page, predictor = binary_page.page, binary_page.predictor
    shown = sections(page)
    assert list(shown) == [*SECTIONS, "modality-1"]
    assert not any(shown.values())
    expected = ["best validation roc_auc so far against seconds since the run started",
                "reliability diagram with the rows per bin",
                "confusion matrix of actual and predicted classes", "ROC curve",
                "precision-recall curve", "permutation importance of each column",
                "partial dependence and ICE lines of the top features",
                "roc_auc per group of size_band", f"roc_auc per group of {EVIL}",
                "Column types <i>"]
    if len({member.group for member in predictor.members}) > 1:
        expected.insert(1, "each member's weight in the blend")
    assert image_alts(page) == expected
    assert page.count("<img ") == len(expected)
    assert "Binary classification of diagnosis" in page
    assert "benign, malignant (positive: malignant)" in page
    assert "Little overfitting" in page  # 1.0 on training rows, 0.99 on validation
    assert "leak" in page and page.index("b-error") < page.index("b-info")  # serious first
    assert "mean_radius moved (100 rows)" in page  # the drift stand-in saw the rows
    assert "roc_auc differs most between size_band = " in page
    assert "numbers &amp; &lt;b&gt;categories&lt;/b&gt;" in page  # the modality's paragraph


def test_the_report_passes_the_rows_and_top_features_to_the_explainers(
        binary_page: Built) -> None:
    calls = binary_page.calls
    assert calls.importance == [{"rows": 100, "max_rows": 5000, "seed": 3}]
    # the stand-in ranks the data's columns in order: the top three go to partial dependence
    assert calls.dependence == [{"features": ["mean_radius", "mean_texture",
                                              "mean_perimeter"], "rows": 100}]


def test_user_text_is_escaped_and_the_page_is_self_contained(binary_page: Built) -> None:
    page = binary_page.page
    assert "<script" not in page.lower()
    assert html.escape(EVIL) in page  # the audit's column, a slice column, a feature
    assert "&lt;b&gt;a&lt;/b&gt;" in page  # a group label
    assert "<b>" not in page and "<i>" not in page
    outside = [link for link in re.findall(r'(?:src|href)="([^"]*)"', page)
               if not link.startswith(("data:", "#"))]
    assert outside == []
    assert "@import" not in page and "url(" not in page


def test_the_regression_report_draws_residuals_and_says_its_sample(
        regression_page: Built) -> None:
    page, calls = regression_page.page, regression_page.calls
    shown = sections(page)
    assert list(shown) == list(SECTIONS)
    assert not any(shown.values())
    alts = image_alts(page)
    assert "predicted against actual values, and the residuals" in alts
    assert "rmse per group of sex" in alts
    assert not {"ROC curve", "reliability diagram with the rows per bin"} & set(alts)
    assert "Explained 60 of 100 rows, a random sample (seed 0): raise --max-rows" in page
    assert "On 60 labelled rows." in page
    assert calls.importance[0]["rows"] == 60
    assert "A large gap" in page  # 20 on training rows, 54 on validation (rmse)


def test_without_data_the_row_sections_say_how_to_get_them(cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    page = build_report(predictor)
    shown = sections(page)
    assert [key for key, skipped in shown.items() if skipped] == [
        "metrics", "explanations", "slices"]
    assert "Pass --data labelled rows to see the metrics" in page
    assert "Pass --slice-by COLUMN with --data labelled rows" in page
    assert "Pass --data rows to check them for drift" in page
    assert "Pass --data labelled rows to see the calibration on them too." in page
    # the run record's own diagnostics: the gap and the out-of-fold calibration
    assert "Validation score (out-of-fold)" in page
    assert "reliability diagram with the rows per bin" in image_alts(page)
    assert set(image_alts(page)) <= {
        "best validation roc_auc so far against seconds since the run started",
        "each member's weight in the blend", "reliability diagram with the rows per bin"}


def test_unlabelled_data_and_a_board_without_times_are_said(
        cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    predictor.board = predictor.board.drop(columns="ended_s")
    page = build_report(predictor, cancer_case.test.drop(columns="diagnosis"))
    assert "has no finishing times" in page
    assert "The data has no &#x27;diagnosis&#x27; column" in page
    assert sections(page)["explanations"] and sections(page)["metrics"]
    with pytest.raises(ConfigError, match="--slice-by needs --data with labelled rows"):
        build_report(predictor, cancer_case.test.drop(columns="diagnosis"),
                     slice_by=["size_band"])


def test_a_model_saved_without_a_run_record_is_refused(cancer_case: FittedCase,
                                                       tmp_path: Path) -> None:
    old = tmp_path / "old_model"
    shutil.copytree(cancer_case.model_dir, old, ignore=shutil.ignore_patterns("run"))
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["run"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    predictor = accelml.load(old)  # loading still works: only the report needs the record
    with pytest.raises(ArtifactError, match=r"saved by an older AccelML \(model format 1 "
                                            r"without a run record \('run' in its "
                                            r"manifest.json\)\); retrain it with AccelML"):
        build_report(predictor)


def test_a_run_record_or_board_missing_what_the_report_needs_is_refused(
        cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    partial = {k: v for k, v in predictor.info.items() if k not in ("rows", "trials")}
    with pytest.raises(ArtifactError, match=r"without the run record's entries 'rows', "
                                            r"'trials'\); retrain"):
        build_report(replace(predictor, info=partial))
    with pytest.raises(ArtifactError, match=r"without a leaderboard with 'learner', "
                                            r"'status' and 'roc_auc' columns"):
        build_report(replace(predictor, board=pd.DataFrame()))


def test_nothing_is_written_when_building_fails(cancer_case: FittedCase,
                                                tmp_path: Path) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    output = tmp_path / "reports" / "report.html"
    with pytest.raises(ConfigError, match="slice column 'size_bnd' is not in the data"):
        write_report(predictor, output, cancer_case.test, slice_by=["size_bnd"])
    assert not output.parent.exists()
    with pytest.raises(ConfigError, match="max_rows must be 1 or more"):
        write_report(predictor, output, max_rows=0)
    assert not output.parent.exists()


def test_a_failed_write_leaves_the_old_report_and_no_partial_file(
        cancer_case: FittedCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    output = tmp_path / "report.html"
    assert write_report(predictor, output) == output
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    output.write_text("the previous report")

    def refuse(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report_module.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_report(predictor, output)
    assert output.read_text() == "the previous report"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.html"]
    with pytest.raises(ConfigError, match="is a folder; pass a file path"):
        write_report(predictor, tmp_path)

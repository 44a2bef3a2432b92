"""The data audit: each check flags a planted problem with the right severity and column,
and stays quiet on clean data; drift against a saved profile; bad input; the audit in a fit."""

from __future__ import annotations

import re
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest

import accelml
from accelml.core.task import infer_task
from accelml.errors import ConfigError, DataError, TargetError
from accelml.explain import audit as audit_module
from accelml.explain.audit import CHECKS, SEVERITIES, Finding, audit, drift, profile
from accelml.tabular.columns import infer_column
from accelml.tabular.modality import run_audit
from tests.conftest import cancer_frame, diabetes_frame, wine_frame

RNG = np.random.default_rng(0)


def found(findings: list[Finding], check: str, column: str | None = None) -> list[Finding]:
    return [f for f in findings if f.check == check and (column is None or f.column == column)]


def only(findings: list[Finding], check: str, column: str | None = None) -> Finding:
    hits = found(findings, check, column)
    assert len(hits) == 1, [f.message for f in findings]
    return hits[0]


# --- clean data and the finding record ------------------------------------------------------


@pytest.mark.parametrize(("frame", "target"), [(cancer_frame(), "diagnosis"),
                                               (diabetes_frame(), "progression"),
                                               (wine_frame(), "cultivar")])
def test_clean_data_has_no_high_or_medium_finding(frame: pd.DataFrame, target: str) -> None:
    findings = audit(frame, target)
    assert [f.message for f in findings if f.severity != "low"] == []


def test_findings_are_sorted_and_round_trip() -> None:
    frame = cancer_frame()
    frame["leak"] = (frame["diagnosis"] == "benign").astype(float)
    frame["const"] = 7
    frame["sparse"] = np.where(np.arange(len(frame)) % 3 == 0, 1.0, np.nan)
    findings = audit(frame, "diagnosis")
    ranks = [SEVERITIES.index(f.severity) for f in findings]
    assert ranks == sorted(ranks) and {f.severity for f in findings} == {"high", "medium", "low"}
    for finding in findings:
        assert finding.check in CHECKS and finding.action
        assert Finding.from_dict(finding.to_dict()) == finding
    with pytest.raises(DataError, match="unknown audit severity 'urgent'"):
        Finding.from_dict({**findings[0].to_dict(), "severity": "urgent"})
    with pytest.raises(DataError, match="lacks action"):
        Finding.from_dict({"check": "missing", "severity": "low", "message": "m"})


# --- target leakage ------------------------------------------------------------------------


def test_a_feature_that_alone_predicts_the_class_is_high() -> None:
    frame = cancer_frame()
    frame["leak"] = (frame["diagnosis"] == "malignant") * 1.0 + RNG.normal(0, 0.05, len(frame))
    frame["code"] = frame["diagnosis"].map({"malignant": "M", "benign": "B"})
    findings = audit(frame, "diagnosis")
    leak = only(findings, "target_leakage", "leak")
    assert leak.severity == "high" and "ROC AUC 1.000" in leak.message
    copy = only(findings, "target_leakage", "code")
    assert copy.severity == "high" and "one-to-one" in copy.message
    assert {f.column for f in found(findings, "target_leakage")} == {"leak", "code"}


def test_a_near_copy_of_a_numeric_target_is_high() -> None:
    frame = diabetes_frame()
    frame["price_eur"] = frame["progression"] * 0.9 + RNG.normal(0, 6, len(frame))
    leak = only(audit(frame, "progression"), "target_leakage", "price_eur")
    assert leak.severity == "high" and re.search(r"correlation 0\.99\d", leak.message)


def test_a_column_derived_from_a_long_tailed_target_is_medium() -> None:
    rent = np.exp(RNG.normal(8, 0.7, 3000))
    frame = pd.DataFrame({"rooms": RNG.integers(1, 6, 3000), "rent": rent,
                          "insurance": 0.013 * rent * RNG.normal(1, 0.12, 3000)})
    leak = only(audit(frame, "rent"), "target_leakage")
    assert (leak.column, leak.severity) == ("insurance", "medium")
    assert re.search(r"held-out R² 0\.9[5-7]\d", leak.message)


def test_missingness_that_tells_the_class_leaks() -> None:
    frame = cancer_frame()
    frame["refund_date"] = np.where(frame["diagnosis"] == "malignant", 3.0, np.nan)
    frame.loc[frame["diagnosis"] == "malignant", "refund_date"] = RNG.normal(
        size=int((frame["diagnosis"] == "malignant").sum()))
    leak = only(audit(frame, "diagnosis"), "target_leakage", "refund_date")
    assert leak.severity == "high"


def test_multiclass_leak_and_none_on_real_features() -> None:
    frame = wine_frame()
    frame["batch"] = frame["cultivar"].map({"barolo": 1, "grignolino": 2, "barbera": 3})
    frame["batch"] = frame["batch"] + RNG.normal(0, 0.1, len(frame))
    findings = audit(frame, "cultivar")
    assert [f.column for f in found(findings, "target_leakage")] == ["batch"]


# --- identifiers, duplicates, overlap ------------------------------------------------------


def test_identifiers() -> None:
    frame = diabetes_frame()
    frame["row"] = np.arange(len(frame)) + 1000
    frame.loc[5, "row"] = 1000  # one repeat: the preprocessor keeps it, so it matters more
    frame["key"] = [str(uuid.UUID(int=int(i))) for i in RNG.integers(0, 2**62, len(frame))]
    findings = audit(frame, "progression")
    row = only(findings, "id_like", "row")
    assert row.severity == "medium" and "near-contiguous" in row.message
    key = only(findings, "id_like", "key")
    assert key.severity == "low" and "UUID-like" in key.message
    assert not found(findings, "high_cardinality")  # identifiers are not also categories
    assert found(audit(diabetes_frame(), "progression"), "id_like") == []  # measurements


def test_identifier_verdicts_agree_with_fitting() -> None:
    """Low where fitting leaves the column out by itself, medium where it keeps it."""
    n = 200
    labels = [f"u{i}" for i in range(n)]
    frame = pd.DataFrame({
        "int_seq": np.arange(n), "float_seq": np.arange(n) * 1.0,
        "labels": labels, "typed": pd.Categorical(labels),
        "near": np.r_[np.arange(n - 1), 0], "sorted_wide": np.arange(n) * 1000 + 7,
        "y": RNG.normal(size=n)})
    verdicts = {f.column: f.severity for f in found(audit(frame, "y"), "id_like")}
    for name in frame.columns.drop("y"):
        dropped = infer_column(frame[name], name).drop_reason is not None
        assert verdicts[name] == ("low" if dropped else "medium"), name


def test_duplicate_rows_and_conflicting_labels() -> None:
    base = diabetes_frame()
    frame = pd.concat([base, base.iloc[:40]], ignore_index=True)
    copies = only(audit(frame, "progression"), "duplicate_rows")
    assert copies.severity == "medium" and copies.column is None
    assert copies.message.startswith("40 rows (8.3 %) repeating an earlier row")
    assert "they look copied" in copies.message
    cancer = cancer_frame()
    flipped = cancer.iloc[:30].copy()
    flipped["diagnosis"] = flipped["diagnosis"].map({"malignant": "benign",
                                                    "benign": "malignant"})
    conflict = only(audit(pd.concat([cancer, flipped]), "diagnosis"), "duplicate_rows")
    assert conflict.severity == "medium" and "sharing their features" in conflict.message
    assert conflict.message.startswith("60 rows")


def test_repeats_of_coarse_rows_are_low() -> None:
    frame = pd.DataFrame({"a": RNG.integers(0, 3, 600), "b": RNG.integers(0, 2, 600)})
    frame["y"] = np.where(frame["a"] + RNG.normal(size=600) > 1, "hi", "lo")
    repeats = found(audit(frame, "y"), "duplicate_rows")  # copies, and conflicting labels
    assert [f.severity for f in repeats] == ["low", "low"]
    assert "repeats can be genuine" in repeats[0].message
    test = pd.DataFrame({"a": RNG.integers(0, 3, 100), "b": RNG.integers(0, 2, 100)})
    overlap = only(audit(frame, "y", test=test), "train_test_overlap")
    assert overlap.severity == "low" and "genuine repeats" in overlap.message


def test_train_test_overlap() -> None:
    frame = cancer_frame().sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, test = frame.iloc[:450], frame.iloc[450:]
    assert found(audit(train, "diagnosis", test=test), "train_test_overlap") == []
    leaky = pd.concat([test, train.iloc[:30]]).drop(columns="diagnosis")
    overlap = only(audit(train, "diagnosis", test=leaky), "train_test_overlap")
    assert overlap.severity == "high"
    assert overlap.message.startswith("30 of 149 test rows (20 %) also appear")


def test_test_rows_among_copied_training_rows_are_high() -> None:
    base = diabetes_frame().sample(frac=1.0, random_state=2).reset_index(drop=True)
    train = pd.concat([base.iloc[:350], base.iloc[:35]], ignore_index=True)  # 10 % copies
    test = pd.concat([base.iloc[350:], base.iloc[:10]]).drop(columns="progression")
    overlap = only(audit(train, "progression", test=test), "train_test_overlap")
    assert overlap.severity == "high" and "training rows look copied too" in overlap.message


# --- column checks -------------------------------------------------------------------------


def test_constant_near_constant_and_high_cardinality() -> None:
    frame = cancer_frame()
    frame["source"] = "clinic"
    frame["flag"] = np.where(np.arange(len(frame)) < 2, "yes", "no")
    frame["doctor"] = [f"dr{i}" for i in RNG.integers(0, 2000, len(frame))]
    findings = audit(frame, "diagnosis")
    assert only(findings, "constant", "source").severity == "low"
    near = only(findings, "near_constant", "flag")
    assert near.severity == "low" and "99.6 %" in near.message
    card = only(findings, "high_cardinality", "doctor")
    assert card.severity == "medium"
    assert {f.column for f in findings} == {"source", "flag", "doctor"}


def test_many_near_constant_columns_are_one_finding() -> None:
    frame = diabetes_frame()
    for i in range(30):
        frame[f"w{i}"] = np.where(np.arange(len(frame)) == i, 1, 0)
    near = only(audit(frame, "progression"), "near_constant")
    assert near.column is None and near.message.startswith("30 columns are near-constant")


def test_missing_values() -> None:
    frame = cancer_frame()
    n = len(frame)
    frame["mostly_empty"] = np.where(np.arange(n) % 20 == 0, 1.5, np.nan)
    frame["half"] = np.where(np.arange(n) % 3 == 0, "x", "")  # blank strings are missing
    frame["empty"] = np.nan
    frame.loc[:9, "diagnosis"] = None
    findings = audit(frame, "diagnosis")
    assert only(findings, "missing", "mostly_empty").severity == "high"
    assert only(findings, "missing", "half").severity == "medium"
    assert "no values" in only(findings, "missing", "empty").message
    target = only(findings, "missing", "diagnosis")
    assert target.severity == "low" and target.message.startswith("10 rows")


# --- the target ----------------------------------------------------------------------------


def test_class_imbalance() -> None:
    x = RNG.normal(size=3000)
    rare = pd.DataFrame({"x": x, "y": np.where(np.arange(3000) < 15, "fraud", "ok")})
    high = only(audit(rare, "y"), "class_imbalance")
    assert high.severity == "high" and "'fraud'" in high.message and "0.5 %" in high.message
    some = pd.DataFrame({"x": x, "y": np.where(np.arange(3000) < 90, "fraud", "ok")})
    assert only(audit(some, "y"), "class_imbalance").severity == "medium"
    letters = pd.DataFrame({"x": x, "y": np.array(list("abcdefghijklmnopqrstuvwxyz"))[
        np.arange(3000) % 26]})
    assert found(audit(letters, "y"), "class_imbalance") == []  # 26 balanced classes
    tiny = pd.DataFrame({"x": x[:500], "y": ["a"] * 245 + ["b"] * 250 + ["c"] * 5})
    few = [f for f in audit(tiny, "y") if "1 class of 'y' with fewer than 10 rows" in f.message]
    assert len(few) == 1 and "'c' (5)" in few[0].message


def test_target_outliers_and_a_capped_target() -> None:
    frame = diabetes_frame()
    frame.loc[:19, "progression"] = 5000 + np.arange(20)
    outliers = only(audit(frame, "progression"), "target_outliers")
    assert outliers.severity == "medium" and outliers.message.startswith("20 values")
    assert "5,019" in outliers.message
    capped = diabetes_frame()
    capped["progression"] = capped["progression"].clip(upper=250)
    finding = only(audit(capped, "progression"), "target_outliers")
    assert "capped" in finding.message and "250" in finding.message


def test_a_smooth_long_tail_is_not_an_outlier_alarm() -> None:
    frame = pd.DataFrame({"x": RNG.normal(size=3000)})
    frame["price"] = np.exp(11 + frame["x"] + RNG.normal(0, 0.8, 3000))  # log-normal
    tail = only(audit(frame, "price"), "target_outliers")
    assert tail.severity == "low" and "log(" in tail.message
    frame.loc[:59, "price"] = np.arange(60) + 1.0  # prices of 1 to 60: apart from the rest
    tiny = only(audit(frame, "price"), "target_outliers")
    assert tiny.severity == "medium" and tiny.message.startswith("60 values of 'price' (2.0 %)")
    frame.loc[:89, "price"] = 0.0  # 3 % zeros: a floor, which explains them
    floor, rest = found(audit(frame, "price"), "target_outliers")
    assert floor.severity == "medium" and "looks floored" in floor.message
    assert rest.severity == "low" and "long tail" in rest.message


def test_task_given_overrides_inference() -> None:
    frame = wine_frame()
    frame["score"] = np.arange(len(frame)) % 5  # five integer values: inferred as classes
    frame = frame.drop(columns="cultivar")
    assert infer_task(frame["score"], "score").kind.value == "multiclass"
    assert found(audit(frame, "score", task="regression"), "class_imbalance") == []


# --- drift ---------------------------------------------------------------------------------


def test_drift_of_a_shifted_copy() -> None:
    frame = cancer_frame().sample(frac=1.0, random_state=1).reset_index(drop=True)
    train, later = frame.iloc[:350], frame.iloc[350:].copy()
    saved = profile(train, "diagnosis")
    assert drift(saved, later) == []  # the same population
    later["mean_radius"] = later["mean_radius"] * 1.5
    later["size_band"] = "large"
    later["texture_band"] = np.where(np.arange(len(later)) % 4 == 0, None, later["texture_band"])
    findings = drift(saved, later.drop(columns="mean_area"))
    radius = only(findings, "drift", "mean_radius")
    assert radius.severity == "high" and "PSI" in radius.message
    assert "the median went from" in radius.message
    band = only(findings, "drift", "size_band")
    assert "the share of 'large' went from" in band.message
    assert only(findings, "drift", "mean_area").severity == "high"
    assert "missing in 25 %" in only(findings, "drift", "texture_band").message


def test_drift_allows_for_few_rows_and_profiles_are_json() -> None:
    import json

    frame = diabetes_frame()
    saved = json.loads(json.dumps(profile(frame, "progression")))
    assert saved["target_summary"]["kind"] == "numeric" and "progression" not in saved["columns"]
    assert len(saved["columns"]["bmi"]["shares"]) == len(saved["columns"]["bmi"]["edges"]) + 1
    assert drift(saved, frame.sample(12, random_state=3)) == []  # twelve rows prove nothing
    shifted = frame.assign(progression=frame["progression"] + 150)
    assert [f.column for f in drift(saved, shifted)] == ["progression"]


# --- bad input and the fit -----------------------------------------------------------------


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="pandas DataFrame as data, got list"):
        audit([[1, 2]], "y")  # type: ignore[arg-type]
    with pytest.raises(TargetError, match="'diagnosys' is not in the data.*'diagnosis'"):
        audit(cancer_frame(), "diagnosys")
    with pytest.raises(ConfigError, match="unknown task 'ranking'"):
        audit(cancer_frame(), "diagnosis", task="ranking")
    with pytest.raises(DataError, match="test table has no rows"):
        audit(cancer_frame(), "diagnosis", test=pd.DataFrame())
    with pytest.raises(DataError, match="needs a data profile"):
        drift({"rows": 3}, cancer_frame())


def test_an_audit_that_fails_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[Finding]:
        raise ValueError("odd data")

    monkeypatch.setattr(audit_module, "audit", broken)
    frame = cancer_frame()
    task = infer_task(frame["diagnosis"], "diagnosis")
    findings, summary, notes = run_audit(frame, "diagnosis", task)
    assert (findings, summary) == ([], None)
    assert notes == ["audit: could not run (ValueError: odd data)"]


def test_fit_records_a_planted_leak() -> None:
    frame = cancer_frame().iloc[:200].copy()
    frame["outcome_code"] = (frame["diagnosis"] == "malignant") * 2.0 + RNG.normal(
        0, 0.1, len(frame))
    predictor = accelml.fit(frame, "diagnosis", time_budget=30, learners=["linear"],
                            max_trials=1, quiet=True)
    leaks = [f for f in predictor.info["audit"] if f["check"] == "target_leakage"]
    assert [(f["column"], f["severity"]) for f in leaks] == [("outcome_code", "high")]
    assert any(n.startswith("audit: column 'outcome_code' alone predicts")
               for n in predictor.info["notes"])
    assert "outcome_code" in predictor.info["data_profile"]["columns"]

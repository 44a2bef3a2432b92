"""Loading a scikit-learn model runs no code: only the exact types AccelML writes are admitted,
checked by name before anything is built; crafted files are refused through every way in
(the learner, ``accelml.load``, ``accelml predict``), and nothing they carry executes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from typer.testing import CliRunner

import accelml
import accelml.tabular.learners  # noqa: F401  (registers the tabular learners)
from accelml.cli import app
from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.learner import get_learner, registered
from accelml.core.task import Task, TaskKind
from accelml.errors import ArtifactError
from accelml.tabular.learners._sklearn import (
    MODEL_FILE,
    SKOPS_ALLOWED,
    SPARE_TYPES,
    SklearnLearner,
    dump_skops,
    load_skops,
    skops_types,
)
from tests.conftest import cancer_frame

SKLEARN = sorted(name for name, cls in registered().items() if issubclass(cls, SklearnLearner))
ONE_HOT = ("linear", "knn", "mlp")  # the families that one-hot the categories
ROWS = 240
TASKS = {
    TaskKind.BINARY: Task(TaskKind.BINARY, "y", "roc_auc", (0, 1), 1),
    TaskKind.MULTICLASS: Task(TaskKind.MULTICLASS, "y", "log_loss", (0, 1, 2)),
    TaskKind.REGRESSION: Task(TaskKind.REGRESSION, "y", "rmse"),
}


def _data(kind: TaskKind, wide: bool) -> tuple[Features, np.ndarray]:
    """Three numbers and one categorical column; ``wide`` gives it 60 codes, so its one-hot
    columns make the preprocessed matrix sparse (as credit_g's do)."""
    rng = np.random.default_rng(7)
    cardinality = 60 if wide else 4
    X = rng.normal(size=(ROWS, 3))
    X[:6, 1] = np.nan
    codes = rng.integers(0, cardinality, ROWS).astype(np.float64)
    codes[:5] = np.nan
    features = Features(np.column_stack([X, codes]), (3,), (cardinality,), ("a", "b", "c", "g"))
    signal = X[:, 0] + np.nan_to_num(codes) / cardinality
    if kind is TaskKind.REGRESSION:
        return features, signal + rng.normal(scale=0.1, size=ROWS)
    classes = 2 if kind is TaskKind.BINARY else 3
    return features, np.digitize(signal, np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))


def _fit(name: str, kind: TaskKind, wide: bool) -> tuple[Any, Features]:
    features, y = _data(kind, wide)
    fitted = get_learner(name).fit(features, y, {}, task=TASKS[kind], fidelity=8,
                                   deadline=Deadline.never(), n_jobs=1, seed=0)
    return fitted, features


def _schema(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("schema.json"))


def test_the_allowlist_is_what_the_scikit_learn_learners_write(tmp_path: Path) -> None:
    """Save every scikit-learn family (each task kind, dense and sparse one-hot rows), load
    it back and compare: a type a learner starts writing must be added on purpose, and the
    list holds nothing no learner writes but a few named plain-data spares."""
    assert set(SKLEARN) >= {"linear", "knn", "random_forest", "extra_trees", "mlp"}
    written: set[tuple[str, str]] = set()
    for name in SKLEARN:
        for kind in TASKS:
            for wide in (False, True):
                fitted, features = _fit(name, kind, wide)
                if name in ONE_HOT:
                    matrix = fitted.model.steps[0][1].transform(features.X)
                    assert scipy.sparse.issparse(matrix) == wide, (name, kind, wide)
                folder = tmp_path / f"{name}-{kind.value}-{wide}"
                get_learner(name).save(fitted, folder)
                found = set(skops_types(_schema(folder / MODEL_FILE)))
                outside = {pair for pair in found if pair[1] not in SKOPS_ALLOWED.get(pair[0], ())}
                assert not outside, f"{name} ({kind.value}, sparse={wide}) writes {outside}"
                written |= found
                loaded = get_learner(name).load(folder, TASKS[kind])
                assert np.array_equal(get_learner(name).predict(loaded, features),
                                      get_learner(name).predict(fitted, features))
    allowed = {(kind, name) for kind, names in SKOPS_ALLOWED.items() for name in names}
    unused = {name for _, name in allowed - written}
    assert unused <= SPARE_TYPES, f"allowed but never written: {unused - SPARE_TYPES}"


def test_knn_on_sparse_one_hot_rows_is_saved_loaded_and_predicts_the_same(
        tmp_path: Path) -> None:
    """`--learners knn` on one-hot data (credit_g) ended in 'holds types outside scikit-learn
    and NumPy (scipy.sparse._csr.csr_matrix)': no model."""
    fitted, features = _fit("knn", TaskKind.BINARY, wide=True)
    assert scipy.sparse.issparse(fitted.model.steps[-1][1]._fit_X)
    knn = get_learner("knn")
    knn.save(fitted, tmp_path)
    loaded = knn.load(tmp_path, TASKS[TaskKind.BINARY])
    assert np.array_equal(knn.predict(loaded, features), knn.predict(fitted, features))


def test_knn_keeps_no_search_tree_in_its_file_and_builds_the_same_one_on_load(
        tmp_path: Path) -> None:
    fitted, features = _fit("knn", TaskKind.REGRESSION, wide=False)
    neighbours = fitted.model.steps[-1][1]
    assert neighbours._fit_method == "kd_tree" and neighbours._tree is not None
    knn = get_learner("knn")
    knn.save(fitted, tmp_path)
    names = {name for _, name in skops_types(_schema(tmp_path / MODEL_FILE))}
    assert not any("_kd_tree" in name or "_ball_tree" in name for name in names)
    assert neighbours._tree is not None  # saving left the fitted model whole
    loaded = knn.load(tmp_path, TASKS[TaskKind.REGRESSION])
    assert loaded.model.steps[-1][1]._tree is not None
    assert np.array_equal(knn.predict(loaded, features), knn.predict(fitted, features))


# Crafted files: a real saved model whose schema gains one attribute that runs code when
# skops builds it (the attack of issue 19), or names a type AccelML never writes.

def _json(value: str) -> dict[str, Any]:
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def _tuple(*items: dict[str, Any]) -> dict[str, Any]:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": list(items)}


def _empty_dict() -> dict[str, Any]:
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                         "__loader__": "ListNode", "content": []}}


def _reduce(module: str, name: str, *args: dict[str, Any]) -> dict[str, Any]:
    """skops calls ``module.name(*args)`` to build this node."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": _tuple(*args)}


def _python_writing(marker: Path) -> str:
    return f"__import__('pathlib').Path({str(marker)!r}).write_text('ran')"


PAYLOADS: dict[str, tuple[str, Callable[[Path], dict[str, Any]]]] = {
    "runstring": ("numpy.testing._private.utils.runstring", lambda marker: _reduce(
        "numpy.testing._private.utils", "runstring", _json(_python_writing(marker)),
        _empty_dict())),
    "eval": ("builtins.eval", lambda marker: _reduce(
        "builtins", "eval", _json(_python_writing(marker)))),
    "os.system": ("os.system", lambda marker: _reduce(
        "os", "system", _json(f"echo ran > {marker}"))),
    "function": ("builtins.exec", lambda marker: {
        "__class__": "exec", "__module__": "builtins", "__loader__": "FunctionNode"}),
    "outside": ("sklearn.preprocessing._function_transformer.FunctionTransformer",
                lambda marker: {"__class__": "FunctionTransformer",
                                "__module__": "sklearn.preprocessing._function_transformer",
                                "__loader__": "ObjectNode", "content": _empty_dict()}),
}
RUNS_CODE = ("runstring", "eval", "os.system")


def craft(path: Path, payload: dict[str, Any]) -> None:
    """Add ``payload`` as one more attribute of the skops file's top object, in place."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    schema = json.loads(members["schema.json"])
    attrs = schema["content"]
    attrs["content"]["payload"] = payload
    attrs["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})
    members["schema.json"] = json.dumps(schema).encode()
    path.unlink()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def craft_model_dir(model_dir: Path, payload: dict[str, Any]) -> None:
    """Craft member 0's skops file and, as an attacker would, put its new sha256 in the
    manifest so the hash check passes."""
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    relative = f"{manifest['members'][0]['dir']}/{MODEL_FILE}"
    craft(model_dir / relative, payload)
    manifest["files"][relative] = hashlib.sha256((model_dir / relative).read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2))


@pytest.fixture(scope="module")
def linear_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fitted, _ = _fit("linear", TaskKind.BINARY, wide=False)
    folder = tmp_path_factory.mktemp("linear")
    get_learner("linear").save(fitted, folder)
    return folder


@pytest.mark.parametrize("case", RUNS_CODE)
def test_the_crafted_payloads_do_run_code_when_trusted(case: str, linear_file: Path,
                                                        tmp_path: Path) -> None:
    """The attack is real: skops with every named type trusted (what the prefix rule did for
    runstring) runs it, so the refusals below are what stands between it and the user."""
    import skops.io as sio

    marker = tmp_path / "ran.txt"
    path = Path(shutil.copy(linear_file / MODEL_FILE, tmp_path / MODEL_FILE))
    craft(path, PAYLOADS[case][1](marker))
    with contextlib.suppress(Exception):  # the object may not build; the code ran before
        sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


@pytest.mark.parametrize("case", sorted(PAYLOADS))
def test_a_crafted_file_is_refused_by_name_and_nothing_runs(case: str, linear_file: Path,
                                                            tmp_path: Path) -> None:
    type_name, payload = PAYLOADS[case]
    marker = tmp_path / "ran.txt"
    folder = Path(shutil.copytree(linear_file, tmp_path / "model"))
    craft(folder / MODEL_FILE, payload(marker))
    with pytest.raises(ArtifactError, match=rf"names types AccelML does not write \("
                                            rf"{type_name}\); refusing to load it"):
        get_learner("linear").load(folder, TASKS[TaskKind.BINARY])
    assert not marker.exists()


def test_an_allowed_name_in_another_kind_of_node_is_refused(linear_file: Path,
                                                            tmp_path: Path) -> None:
    """numpy.float64 is allowed as an array scalar; built from a reduce it is refused."""
    path = Path(shutil.copy(linear_file / MODEL_FILE, tmp_path / MODEL_FILE))
    craft(path, _reduce("numpy", "float64", _json("1")))
    with pytest.raises(ArtifactError, match=r"\(numpy\.float64 as ConstructorFromReduceNode\)"):
        load_skops(path)


def test_a_forest_tree_pointing_outside_its_nodes_is_refused(tmp_path: Path) -> None:
    """scikit-learn follows a tree's child indices without bounds checks."""
    fitted, _ = _fit("random_forest", TaskKind.BINARY, wide=False)
    tree = fitted.model.estimators_[0].tree_
    state = tree.__getstate__()
    state["nodes"]["left_child"][0] = tree.node_count + 5
    tree.__setstate__(state)
    dump_skops(fitted.model, tmp_path / MODEL_FILE)
    (tmp_path / "info.json").write_text(json.dumps(fitted.info))
    with pytest.raises(ArtifactError, match=r"tree 0 in .*model\.skops is malformed \(a child "
                                            r"index out of order or out of range\)"):
        get_learner("random_forest").load(tmp_path, TASKS[TaskKind.BINARY])


# A whole model directory, tampered with as an attacker would, through the public ways in.

@pytest.fixture(scope="module")
def linear_model_dir(linear_cancer_model: Path) -> Path:
    return linear_cancer_model  # each test tampers with a copy


@pytest.mark.parametrize("case", RUNS_CODE)
def test_accelml_load_and_predict_refuse_a_crafted_model(case: str, linear_model_dir: Path,
                                                         tmp_path: Path) -> None:
    type_name, payload = PAYLOADS[case]
    marker = tmp_path / "ran.txt"
    model = Path(shutil.copytree(linear_model_dir, tmp_path / "model"))
    craft_model_dir(model, payload(marker))
    with pytest.raises(ArtifactError, match=rf"\({type_name}\); refusing to load it"):
        accelml.load(model)
    rows = tmp_path / "rows.csv"
    cancer_frame().drop(columns=["diagnosis"]).head(5).to_csv(rows, index=False)
    result = CliRunner().invoke(app, ["predict", str(model), str(rows),
                                      "-o", str(tmp_path / "out.csv")])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "error:" in output and f"({type_name}); refusing to load it" in output
    assert "Traceback" not in result.output
    assert not marker.exists() and not (tmp_path / "out.csv").exists()

"""ONNX export of tabular models, alone or blended: the encoded feature matrix in (float32,
the columns of ``Features.names``), class probabilities or values out.

Each member's learner converts it (its ``to_onnx``: onnxmltools for LightGBM and XGBoost,
CatBoost's own exporter, skl2onnx for scikit-learn models, torch's exporter for the
``torch_mlp`` network, whose input encoding is part of its module); the members are then
joined into one graph that spreads each member's probabilities over the task's classes with
its weight and sums them (a weighted sum of values for regressors). A stacked model sums per
group and ends in the stacker's linear layer (a softmax over log-probabilities for
classifiers). A member whose learner has no converter (its ``to_onnx`` raises
:class:`~accelml.core.learner.OnnxUnavailable`, the default) is a clear ConfigError naming
it. The column encoding (categories to codes, dates to parts) is not in the graph: it is the
model directory's ``preprocessor.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from accelml.core.learner import Fitted, OnnxUnavailable, capabilities, get_learner
from accelml.core.stacking import EPSILON, Stacker
from accelml.core.unseen import UnseenGuard
from accelml.errors import ConfigError, MissingDependencyError

INSTALL = "pip install 'accelml[export]'"
#: The opset the converters support (onnxmltools' ceiling); ai.onnx.ml as they choose.
OPSET = 15
INPUT = "features"
#: (learner name, fitted model, weight in the blend, group: the trial it comes from)
ExportMember = tuple[str, Fitted, float, int | None]


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependencyError(f"ONNX export needs {module}: {INSTALL}") from None


def float_input(n_features: int) -> list[tuple[str, Any]]:
    """The ``features`` input as onnxmltools' converters take it."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [(INPUT, FloatTensorType([None, n_features]))]


def drop_zipmap(model: Any) -> Any:
    """Make a classifier's probabilities a plain tensor output (CatBoost ends in ZipMap)."""
    import onnx

    graph = model.graph
    for node in list(graph.node):
        if node.op_type == "ZipMap":
            graph.node.remove(node)
            for output in list(graph.output):
                if output.name == node.output[0]:
                    graph.output.remove(output)
            graph.output.append(onnx.helper.make_tensor_value_info(
                node.input[0], onnx.TensorProto.FLOAT, [None, None]))
    return model


def member_graph(name: str, fitted: Fitted, n_features: int) -> Any:
    """One member as an ONNX model with input ``features``, from its learner's ``to_onnx``;
    ConfigError if it cannot be (a constant model, no converter, a converter failure)."""
    _require("onnx")
    _require("onnxmltools")
    if fitted.info.get("constant") or fitted.model is None:
        raise ConfigError(f"member {name!r} is a constant model; ONNX export covers trained "
                          "models only")
    learner = capabilities(get_learner(name))
    try:
        return learner.to_onnx(fitted, n_features)
    except OnnxUnavailable as why:
        detail = str(why)
    except Exception as error:  # noqa: BLE001  (any converter failure is named, not raised raw)
        detail = " ".join(str(error).split())[:200]
    raise ConfigError(f"the {name!r} member cannot be exported to ONNX ({detail}); retrain "
                      f"without it (--exclude {name}) to export") from None


def _output_of(model: Any, classifier: bool) -> str:
    """The member's probability (classifiers) or value output."""
    outputs = [o.name for o in model.graph.output]
    if classifier:
        for output in outputs:
            if "prob" in output.lower():
                return output
        return outputs[-1]
    return outputs[0]


def blend_graph(members: Sequence[ExportMember], n_features: int, n_classes: int | None,
                stacker: Stacker | None = None, guard: UnseenGuard | None = None) -> Any:
    """One ONNX model: every member on the shared ``features`` input, blended by weight (and
    stacked, given a ``stacker``) into ``probabilities`` (n_classes columns) or ``values``;
    a classifier's ``guard`` mixes in the class shares for rows missing expected values."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    classifier = n_classes is not None
    totals: dict[int | None, float] = {}
    for _, _, weight, group in members:
        key = group if stacker is not None else None
        totals[key] = totals.get(key, 0.0) + weight
    nodes, initializers, opsets = [], [], {}
    parts: dict[int | None, list[str]] = {}
    for index, (name, fitted, weight, group) in enumerate(members):
        key = group if stacker is not None else None
        total = totals[key]
        model = compose.add_prefix(member_graph(name, fitted, n_features), f"m{index}_")
        graph = model.graph
        nodes.append(helper.make_node("Identity", [INPUT], [graph.input[0].name]))
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        for opset in model.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        out = _output_of(model, classifier)
        part = f"part{index}"
        if classifier:
            classes = fitted.info["classes"]
            spread = np.zeros((len(classes), n_classes), dtype=np.float32)
            spread[np.arange(len(classes)), classes] = weight / total
            initializers.append(numpy_helper.from_array(spread, f"spread{index}"))
            nodes.append(helper.make_node("MatMul", [out, f"spread{index}"], [part]))
        else:
            scale = np.array(weight / total, dtype=np.float32)
            initializers.append(numpy_helper.from_array(scale, f"scale{index}"))
            flat = f"flat{index}"
            shape = numpy_helper.from_array(np.array([-1], dtype=np.int64), f"shape{index}")
            initializers.append(shape)
            nodes.append(helper.make_node("Reshape", [out, f"shape{index}"], [flat]))
            nodes.append(helper.make_node("Mul", [flat, f"scale{index}"], [part]))
        parts.setdefault(key, []).append(part)
    opsets[""] = max(opsets.get("", 0), OPSET)  # the joining nodes' own domain
    result = "probabilities" if classifier else "values"
    guarded = classifier and guard is not None
    blended = "unguarded" if guarded else result
    if stacker is None:
        nodes.append(helper.make_node("Sum", parts[None], [blended]))
    else:
        _stacker_nodes(stacker, parts, classifier, blended, nodes, initializers)
    if guarded:
        assert guard is not None
        _guard_nodes(guard, blended, result, nodes, initializers)
    shape = [None, n_classes] if classifier else [None]
    graph = helper.make_graph(
        nodes, "accelml", [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT,
                                                         [None, n_features])],
        [helper.make_tensor_value_info(result, TensorProto.FLOAT, shape)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, version)
                                                    for domain, version in opsets.items()])
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


def _stacker_nodes(stacker: Stacker, parts: dict[int | None, list[str]], classifier: bool,
                   result: str, nodes: list[Any], initializers: list[Any]) -> None:
    """The stacker's layer: each group's blend, side by side (log-probabilities for a
    classifier), times its coefficients plus its intercepts (then a softmax)."""
    from onnx import helper, numpy_helper

    def constant(name: str, value: Any, dtype: Any = np.float32) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    if classifier:
        low, high = constant("eps", EPSILON), constant("one", 1.0)
    else:
        as_column = constant("column", [-1, 1], np.int64)
    columns = []
    for position, group in enumerate(stacker.groups):
        blended, column = f"group{position}", f"input{position}"
        nodes.append(helper.make_node("Sum", parts[group], [blended]))
        if classifier:
            clipped = f"clipped{position}"
            nodes.append(helper.make_node("Clip", [blended, low, high], [clipped]))
            nodes.append(helper.make_node("Log", [clipped], [column]))
        else:
            nodes.append(helper.make_node("Reshape", [blended, as_column], [column]))
        columns.append(column)
    nodes.append(helper.make_node("Concat", columns, ["stack_in"], axis=1))
    nodes.append(helper.make_node("MatMul", ["stack_in", constant("coef", stacker.coef)],
                                  ["stack_scores"]))
    intercept = constant("intercept", stacker.intercept)
    if classifier:
        nodes.append(helper.make_node("Add", ["stack_scores", intercept], ["stack_logits"]))
        nodes.append(helper.make_node("Softmax", ["stack_logits"], [result], axis=1))
    else:
        nodes.append(helper.make_node("Add", ["stack_scores", intercept], ["stack_values"]))
        nodes.append(helper.make_node("Reshape", ["stack_values", constant("flat", [-1],
                                                                           np.int64)],
                                      [result]))


def _guard_nodes(guard: UnseenGuard, blended: str, result: str, nodes: list[Any],
                 initializers: list[Any]) -> None:
    """:meth:`UnseenGuard.shrink`: each row's share of expected columns that are missing
    (NaN) mixes the class shares into ``blended``."""
    from onnx import TensorProto, helper, numpy_helper

    def constant(name: str, value: Any) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    share = guard.rare.astype(np.float32)[:, None] / max(len(guard.rare), 1)
    nodes += [
        helper.make_node("IsNaN", [INPUT], ["guard_nan"]),
        helper.make_node("Cast", ["guard_nan"], ["guard_missing"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["guard_missing", constant("guard_share", share)],
                         ["guard_weight"]),
        helper.make_node("Sub", [constant("guard_one", 1.0), "guard_weight"], ["guard_keep"]),
        helper.make_node("Mul", [blended, "guard_keep"], ["guard_kept"]),
        helper.make_node("Mul", ["guard_weight", constant("guard_prior", guard.prior[None, :])],
                         ["guard_mixed"]),
        helper.make_node("Add", ["guard_kept", "guard_mixed"], [result])]


def export_onnx(members: Sequence[ExportMember], n_features: int, n_classes: int | None,
                path: Path, stacker: Stacker | None = None,
                guard: UnseenGuard | None = None) -> Path:
    """Write the blend (or stack) of ``members`` at ``path``."""
    import onnx

    model = blend_graph(members, n_features, n_classes, stacker, guard)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def run_onnx(path: Path, X: np.ndarray) -> np.ndarray:
    """The exported model's output for the feature matrix ``X``."""
    runtime = _require("onnxruntime")
    session = runtime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {INPUT: np.ascontiguousarray(X, dtype=np.float32)})
    return np.asarray(output, dtype=np.float64)


#: Largest difference from the native model an export may show on a check row. ONNX tree
#: ensembles compare in float32: an input within float32 rounding of a (double) split
#: threshold can take the other branch, which moves that row by one leaf's value (seen: up to
#: 2e-3 on a few rows of a hundred); a wrong graph differs by far more.
TOLERANCE = 0.05
CHECK_ROWS = 512


def synthetic_features(features_like: Any, rows: int = CHECK_ROWS, seed: int = 0) -> np.ndarray:
    """Check rows when no data is given: category codes within each column's range, numbers
    spread over several magnitudes (so tree thresholds are crossed), a tenth missing."""
    rng = np.random.default_rng(seed)
    n = len(features_like.names)
    X = rng.normal(size=(rows, n)) * 10.0 ** rng.uniform(-1, 4, size=(rows, n))
    for index, cardinality in zip(features_like.categorical, features_like.cardinalities,
                                  strict=True):
        X[:, index] = rng.integers(0, cardinality, rows)
    X[rng.random((rows, n)) < 0.1] = np.nan
    return X


def export_onnx_checked(predictor: Any, output: Path, check: Any = None) -> float:
    """Write the predictor's blend as ONNX and compare it with the native models on the
    ``check`` rows (a DataFrame; synthetic rows when None); return the largest difference.
    Inputs are rounded to float32 first for both, as ONNX reads them; a difference over
    :data:`TOLERANCE` is an error and leaves no file."""
    from accelml.core.data import Features

    template = predictor.preprocessor.transform_records([_any_row(predictor.preprocessor)])
    if check is not None:
        target = predictor.task.target
        frame = check.drop(columns=[target]) if target in check.columns else check
        X = predictor.preprocessor.transform(frame).X
    else:
        X = synthetic_features(template)
    X = X.astype(np.float32).astype(np.float64)
    features = Features(X, template.categorical, template.cardinalities, template.names)
    classes = predictor.task.n_classes if predictor.task.kind.is_classification else None
    members = [(m.learner, m.fitted, m.weight, m.group) for m in predictor.members]
    path = export_onnx(members, X.shape[1], classes, Path(output), predictor.stacker,
                       predictor.guard)
    difference = float(np.nanmax(np.abs(run_onnx(path, X) - predictor.blend(features))))
    if not difference <= TOLERANCE:
        path.unlink(missing_ok=True)
        raise ConfigError(f"the ONNX graph differs from the native model by {difference:.2e} "
                          "on the check rows; it was not written")
    return difference


def _any_row(preprocessor: Any) -> dict[str, Any]:
    """A row of missing values: enough to learn the feature layout."""
    return {spec["name"]: None for spec in preprocessor.schema if "dropped" not in spec}

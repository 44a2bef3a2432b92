"""ONNX export of text models over n-grams, alone, blended or stacked: raw text in, class
probabilities (or values) out, with the tokenizing inside the graph.

The graph takes one string input per text column, named after the column, shape ``[N]``
(missing text is the empty string) and outputs ``probabilities`` ``[N, n_classes]`` float32,
columns in the order of ``Predictor.classes``, and ``label`` ``[N]`` (the class label, when
the labels are strings or integers); a regressor outputs ``values`` ``[N]``. It needs ONNX
Runtime 1.17 or later: opset 20, and the ``com.microsoft`` Tokenizer.

The columns are joined with " \\n " (``StringConcat``) and lowercased (``StringNormalizer``,
with the runtime's locale: ASCII everywhere, other letters under a UTF-8 locale; Python's
``str.lower`` differs only on "İ" and a word-final "Σ"). Words are found by ``Tokenizer`` with
the preprocessor's token pattern written out as explicit code point ranges (Python's ``\\w``,
so the runtime's Unicode tables do not matter) and counted by ``TfIdfVectorizer`` over the word
1-3 grams the members kept. Character n-grams (scikit-learn's ``char_wb``: n-grams of each
whitespace-separated word padded with a space on each side) split the text into words, each
word into characters with the Tokenizer's start and end marks standing for the padding spaces,
and count the [N, words x characters] tensor at once: a kept n-gram holds a mark only at its
ends, so none spans two words; the lone space (two per word) is counted from the words. Then
each member's TF-IDF (sublinear tf, idf, L2 norm per block), its linear scores and its own
probability mapping, spread over the task's classes and blended by weight, or stacked with the
tabular export's stacker layer. The counts are dense [N, n-grams kept] float32 tensors, and
the characters an [N, words x longest word] one: feed a model of many n-grams a few dozen
rows at a time.

Exported: text_logreg, text_svm, text_sgd, text_nb and nbsvm over word and character n-grams.
Refused by name: text_lightgbm and text_transformer, members that read sentence embeddings,
constant models, and models that read non-text columns beside the text. The graph is checked
against the native predictor before it is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelml.core.stacking import Stacker
from accelml.errors import ConfigError
from accelml.tabular.export import _require, _stacker_nodes
from accelml.text.featurize import TfidfState
from accelml.text.preprocess import SEPARATOR

#: Opset 20 has StringConcat; ReduceL2 takes its axes as an input.
OPSET = 20
MS_DOMAIN = "com.microsoft"
EXPORTABLE = ("text_logreg", "text_svm", "text_sgd", "text_nb", "nbsvm")
LEARNERS_FIX = "refit with --learners text_logreg,text_svm,nbsvm,text_sgd,text_nb"
#: Largest difference from the native model the check accepts; a faithful graph differs by
#: float32 rounding (about 1e-6), a tokenizing difference by far more.
TOLERANCE = 1e-3
#: Rows per run of the check: the n-gram counts are dense [rows, n-grams kept] tensors.
CHECK_BATCH = 32
#: Rows to check against when no data is given: punctuation, capitals, digits, unknown words,
#: accents, an empty text.
CHECK_SENTENCES = (
    "This was GREAT, really great!!! I'd buy it again.",
    "terrible... the worst thing I have ever seen?",
    "",
    "   spaces\tand\nnew lines   ",
    "The café's crème brûlée was 10/10 - naïve but lovely",
    "Zxqv unknownword blorp 12345 qwerty!",
    "ok",
    "Not bad. Not good either. Just OK?",
)
#: Start and end marks of the Tokenizer (``mark=1``): they stand for char_wb's padding spaces.
START, END = "\x02", "\x03"
#: Padding of the token tensors. No word token holds a control character, and character
#: tokens are one character long, so neither pad can match an n-gram.
WORD_PAD, CHAR_PAD = "\x01", "\x01\x01"


# --- what can be exported -------------------------------------------------------------------


#: Why a learner outside :data:`EXPORTABLE` has no graph here.
NOT_NGRAM = {"text_lightgbm": "gradient-boosted trees", "text_transformer": "a fine-tuned network"}


def refusals(predictor: Any) -> list[tuple[str, str, str]]:
    """(member, why, fix) for each member the graph cannot hold."""
    out = []
    for index, member in enumerate(predictor.members):
        model, info = member.fitted.model, member.fitted.info
        name = f"member {index} {member.learner!r}"
        if info.get("constant") or model is None:
            out.append((name, "a constant model",
                        "refit with a larger --time-budget, so that a learner finishes"))
        elif member.learner not in EXPORTABLE:
            why = NOT_NGRAM.get(member.learner, "no n-gram graph for this learner")
            out.append((name, why, LEARNERS_FIX))
        elif bool(np.asarray(model.get("embed", [False]))[0]):
            out.append((name, "reads sentence embeddings", "refit with --embeddings off"))
        elif "dense_mean" in model:
            out.append((name, f"reads the non-text column(s) {_side_columns(predictor)}",
                        "refit on the text column(s) alone"))
    return out


def _side_columns(predictor: Any) -> str:
    table = getattr(predictor.preprocessor, "table", None)
    names = [str(spec["name"]) for spec in getattr(table, "schema", [])
             if "dropped" not in spec]
    return ", ".join(map(repr, names[:10])) or "(none)"


def _check_exportable(predictor: Any) -> None:
    refused = refusals(predictor)
    if refused:
        listed = "; ".join(f"{name}: {why}" for name, why, _ in refused)
        fixes = "; ".join(dict.fromkeys(fix for _, _, fix in refused))
        raise ConfigError(f"this text model cannot be exported to ONNX ({listed}); {fixes} to "
                          "export it (nothing was written)")


# --- the graph under construction -----------------------------------------------------------


class _Graph:
    """Nodes and initializers being built, each result under a fresh name."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.rows = ""  # the [N] shape of the input, once the documents are built
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"_{hint}{self._count}"

    def const(self, value: Any, dtype: Any = np.float32, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, domain: str | None = None, out: str | None = None,
           **attrs: Any) -> str:
        from onnx import helper

        out = out or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], domain=domain,
                                           **attrs))
        return out


# --- tokenizing -----------------------------------------------------------------------------


def _code_ranges(matches: Any) -> list[tuple[int, int]]:
    """The code points where ``matches`` holds, as inclusive ranges (surrogates skipped)."""
    ranges: list[tuple[int, int]] = []
    start = None
    for point in range(0x110000):
        inside = not 0xD800 <= point <= 0xDFFF and matches(chr(point))
        if inside and start is None:
            start = point
        elif not inside and start is not None:
            ranges.append((start, point - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))
    return ranges


def _char_class(ranges: list[tuple[int, int]], negate: bool = False) -> str:
    parts = [f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges]
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


@lru_cache(maxsize=1)
def _patterns() -> tuple[str, str]:
    """(word token, whitespace-free run) as RE2 patterns: Python's own ``\\w`` (alphanumeric
    or "_") and ``str.split`` whitespace, so tokens match the preprocessor's exactly."""
    word = _char_class(_code_ranges(lambda c: c.isalnum() or c == "_"))
    return f"{word}+|[!?]", _char_class(_code_ranges(str.isspace), negate=True) + "+"


def _documents(g: _Graph, columns: Sequence[str]) -> str:
    """The lowercased document of each row: the text columns joined as the preprocessor does
    (an empty column adds no token, so joining it too changes no count)."""
    doc = columns[0]
    g.rows = g.op("Shape", doc)
    if len(columns) > 1:
        separator = g.const(SEPARATOR, object, "sep")
        for column in columns[1:]:
            doc = g.op("StringConcat", g.op("StringConcat", doc, separator), column)
    return g.op("StringNormalizer", doc, case_change_action="LOWER", locale="")


def _column_shape(g: _Graph) -> str:
    """[N, 1], for a tensor of one column."""
    return g.op("Concat", g.rows, g.const([1], np.int64, "one"), axis=0)


def _with_column(g: _Graph, tokens: str, value: str) -> str:
    """``tokens`` with one more column of ``value``: never zero columns, even for empty
    texts (the runtime's ops want at least one)."""
    column = g.op("Expand", g.const([value], object, "pad"), _column_shape(g))
    return g.op("Concat", tokens, column, axis=1)


def _pool(grams: Sequence[Sequence[str]]) -> dict[str, Any]:
    """TfIdfVectorizer attributes counting ``grams`` (token sequences) into columns 0..k-1,
    in this order."""
    order = sorted(range(len(grams)), key=lambda i: len(grams[i]))
    top = max(len(g) for g in grams)
    counts = [sum(len(grams[i]) for i in order if len(grams[i]) < n) for n in range(1, top + 1)]
    low = min(len(g) for g in grams)
    return {"mode": "TF", "min_gram_length": low, "max_gram_length": top,
            "max_skip_count": 0, "ngram_counts": counts, "ngram_indexes": order,
            "pool_strings": [token for i in order for token in grams[i]]}


def _word_counts(g: _Graph, doc: str, terms: Sequence[str]) -> str:
    """[N, len(terms)] counts of the word n-grams ``terms`` (tokens joined by a space)."""
    pattern, _ = _patterns()
    tokens = g.op("Tokenizer", doc, domain=MS_DOMAIN, tokenexp=pattern, mark=0, mincharnum=1,
                  pad_value=WORD_PAD)
    tokens = _with_column(g, tokens, WORD_PAD)
    return g.op("TfIdfVectorizer", tokens, **_pool([t.split(" ") for t in terms]))


def _char_gram(term: str) -> list[str]:
    """A char_wb n-gram as character tokens, its padding spaces as the Tokenizer's marks. The
    lone space (counted from the words instead) and an n-gram holding a mark character itself
    (the text would need control characters) become a token no character equals."""
    if term == " " or START in term or END in term:
        return [f"<never {term!r}>"]
    tokens = list(term)
    if tokens[0] == " ":
        tokens[0] = START
    if tokens[-1] == " ":
        tokens[-1] = END
    return tokens


def _char_counts(g: _Graph, doc: str, terms: Sequence[str]) -> str:
    """[N, len(terms)] counts of the char_wb n-grams ``terms``."""
    _, nonspace = _patterns()
    words = g.op("Tokenizer", doc, domain=MS_DOMAIN, tokenexp=nonspace, mark=0, mincharnum=1,
                 pad_value="")
    words = _with_column(g, words, "")
    chars = g.op("Tokenizer", words, domain=MS_DOMAIN, tokenexp="(?s).", mark=1, mincharnum=1,
                 pad_value=CHAR_PAD)
    flat = g.op("Reshape", chars, g.op("Concat", g.rows, g.const([-1], np.int64, "all"),
                                        axis=0))
    grams = [_char_gram(t) for t in terms]
    counts = g.op("TfIdfVectorizer", flat, **_pool(grams))
    if " " not in terms:
        return counts
    real = g.op("Cast", g.op("Not", g.op("Equal", words, g.const("", object, "empty"))),
                to=_float())
    n_words = g.op("ReduceSum", real, g.const([1], np.int64, "axis"), keepdims=1)
    spaces = np.zeros((1, len(terms)), dtype=np.float32)
    spaces[0, list(terms).index(" ")] = 2.0
    return g.op("Add", counts, g.op("Mul", n_words, g.const(spaces, hint="spaces")))


def _float() -> int:
    from onnx import TensorProto

    return int(TensorProto.FLOAT)


# --- members --------------------------------------------------------------------------------


def _union(members: Sequence[Any], block: str) -> np.ndarray:
    """Every count column of ``block`` some member keeps, sorted."""
    kept = [np.asarray(TfidfState.from_arrays(m.fitted.model).columns.get(block, []))
            for m in members]
    return np.unique(np.concatenate([*kept, np.zeros(0, dtype=np.int64)]).astype(np.int64))


def _counts(g: _Graph, predictor: Any, doc: str) -> dict[str, tuple[str, np.ndarray]]:
    """Per block, the counts of every column any member keeps: (tensor, its columns)."""
    state = predictor.preprocessor.to_dict()
    out = {}
    for block, build in (("word", _word_counts), ("char", _char_counts)):
        union = _union(predictor.members, block)
        if len(union):
            terms = [state[f"{block}_terms"][i] for i in union]
            out[block] = (build(g, doc, terms), union)
    return out


def _design(g: _Graph, model: Mapping[str, np.ndarray], counts: Mapping[str, Any],
            binary: bool) -> str | None:
    """The member's design matrix: per block its columns' TF-IDF, L2-normalised (or, for
    NB-SVM, 1 where the n-gram occurs: its TF-IDF is then positive); None without columns."""
    state = TfidfState.from_arrays(model)
    parts = []
    for block, columns in state.columns.items():
        if not len(columns):
            continue
        tensor, union = counts[block]
        if not np.array_equal(columns, union):
            where = np.searchsorted(union, columns)
            tensor = g.op("Gather", tensor, g.const(where, np.int64, "cols"), axis=1)
        if binary:
            parts.append(g.op("Cast", g.op("Greater", tensor, g.const(0.0)), to=_float()))
            continue
        if state.sublinear:  # 1 + log(tf) where tf > 0, else 0 (counts are whole numbers)
            tensor = g.op("Add", g.op("Log", g.op("Max", tensor, g.const(1.0))),
                          g.op("Min", tensor, g.const(1.0)))
        weighted = g.op("Mul", tensor, g.const(state.idf[block][None, :], hint="idf"))
        norm = g.op("ReduceL2", weighted, g.const([1], np.int64, "axis"), keepdims=1)
        parts.append(g.op("Div", weighted, g.op("Max", norm, g.const(1e-30))))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)


def _weights(learner: str, model: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(design columns x scores) weights and the intercepts, in float64 before the cast.
    Naive Bayes is centred over classes (its softmax ignores a shift shared by all classes,
    and its log-probabilities are large and alike) and divided by its temperature."""
    coef = np.asarray(model["coef"], dtype=np.float64)
    intercept = np.asarray(model["intercept"], dtype=np.float64)
    if learner == "nbsvm":
        coef = np.asarray(model["ratio"] * model["coef"], dtype=np.float64)
    if learner == "text_nb":
        temperature = float(model["temperature"][0])
        coef = (coef - coef.mean(axis=0, keepdims=True)) / temperature
        intercept = intercept / temperature
    return coef.T, intercept


def _member_scores(g: _Graph, member: Any, counts: Mapping[str, Any]) -> str:
    model = member.fitted.model
    design = _design(g, model, counts, binary=member.learner == "nbsvm")
    coef, intercept = _weights(member.learner, model)
    if design is None:  # no n-gram kept (tiny data): the intercepts alone, one zero column
        design = g.op("ConstantOfShape", _column_shape(g))
        coef = np.zeros((1, len(intercept)))
    return g.op("Add", g.op("MatMul", design, g.const(coef, hint="coef")),
                g.const(intercept, hint="intercept"))


def _two_columns(g: _Graph, p: str) -> str:
    """A binary model's p(class 1) as [1 - p, p]."""
    return g.op("Concat", g.op("Sub", g.const(1.0), p), p, axis=1)


def _ovr(g: _Graph, scores: str, width: int) -> str:
    """Per-class sigmoids: one column is binary, more are normalised (one-vs-rest)."""
    p = g.op("Sigmoid", scores)
    if width == 1:
        return _two_columns(g, p)
    total = g.op("ReduceSum", p, g.const([1], np.int64, "axis"), keepdims=1)
    return g.op("Div", p, g.op("Max", total, g.const(1e-12)))


def _huber(g: _Graph, scores: str, width: int) -> str:
    """scikit-learn's modified Huber probabilities: (clip(s, -1, 1) + 1) / 2, normalised, a
    row of zeros uniform."""
    p = g.op("Div", g.op("Add", g.op("Clip", scores, g.const(-1.0), g.const(1.0)),
                         g.const(1.0)), g.const(2.0))
    if width == 1:
        return _two_columns(g, p)
    total = g.op("ReduceSum", p, g.const([1], np.int64, "axis"), keepdims=1)
    flat = g.op("Equal", total, g.const(0.0))
    shared = g.op("Div", p, g.op("Where", flat, g.const(1.0), total))
    return g.op("Where", flat, g.const(1.0 / width), shared)


def _member_proba(g: _Graph, member: Any, scores: str) -> str:
    """The member's probabilities over the classes it was trained on, as its learner makes
    them."""
    model, learner = member.fitted.model, member.learner
    width = int(np.asarray(model["intercept"]).shape[0])
    if learner == "text_svm":
        margins = g.op("Add", g.op("Mul", scores, g.const(model["slope"], hint="slope")),
                       g.const(model["offset"], hint="offset"))
        return _ovr(g, g.op("Neg", margins), width)
    if learner == "text_sgd" and bool(model["huber"][0]):
        return _huber(g, scores, width)
    if learner in ("text_sgd", "nbsvm"):
        return _ovr(g, scores, width)
    if width == 1:  # text_logreg, binary
        return _two_columns(g, g.op("Sigmoid", scores))
    return g.op("Softmax", scores, axis=1)


def _member_output(g: _Graph, member: Any, counts: Mapping[str, Any],
                   n_classes: int | None) -> str:
    """The member's prediction as ``Learner.predict`` gives it: probabilities clipped to
    [0, 1], spread over the task's classes and renormalised; or values."""
    scores = _member_scores(g, member, counts)
    if n_classes is None:
        return g.op("Reshape", scores, g.const([-1], np.int64, "flat"))
    proba = g.op("Clip", _member_proba(g, member, scores), g.const(0.0), g.const(1.0))
    classes = member.fitted.info["classes"]
    spread = np.zeros((len(classes), n_classes), dtype=np.float32)
    spread[np.arange(len(classes)), classes] = 1.0
    spread_out = g.op("MatMul", proba, g.const(spread, hint="spread"))
    total = g.op("ReduceSum", spread_out, g.const([1], np.int64, "axis"), keepdims=1)
    return g.op("Div", spread_out, total)


# --- the whole graph ------------------------------------------------------------------------


def _blend(g: _Graph, predictor: Any, counts: Mapping[str, Any], result: str) -> None:
    """Each member weighted within its group (all one group without a stacker), summed into
    ``result`` or into the stacker's layer."""
    stacker: Stacker | None = predictor.stacker
    classifier = predictor.task.kind.is_classification
    n_classes = predictor.task.n_classes if classifier else None
    totals: dict[int | None, float] = {}
    for member in predictor.members:
        key = member.group if stacker is not None else None
        totals[key] = totals.get(key, 0.0) + member.weight
    parts: dict[int | None, list[str]] = {}
    for member in predictor.members:
        key = member.group if stacker is not None else None
        out = _member_output(g, member, counts, n_classes)
        share = g.const(member.weight / totals[key], hint="weight")
        parts.setdefault(key, []).append(g.op("Mul", out, share))
    if stacker is None:
        g.op("Sum", *parts[None], out=result)
    else:
        _stacker_nodes(stacker, parts, classifier, result, g.nodes, g.initializers)


def _label(g: _Graph, classes: Sequence[Any], probabilities: str) -> tuple[str, int] | None:
    """The predicted class label (argmax), when the labels are all strings or integers."""
    from onnx import TensorProto

    if all(isinstance(c, str) for c in classes):
        table, kind = g.const(list(classes), object, "labels"), TensorProto.STRING
    elif all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in classes):
        table, kind = g.const(list(classes), np.int64, "labels"), TensorProto.INT64
    else:
        return None
    index = g.op("ArgMax", probabilities, axis=1, keepdims=0)
    return g.op("Gather", table, index, axis=0, out="label"), kind


def text_graph(predictor: Any) -> Any:
    """The predictor (members checked exportable) as one ONNX model; see the module doc."""
    import onnx
    from onnx import TensorProto, helper

    columns = list(predictor.preprocessor.text_columns)
    g = _Graph()
    counts = _counts(g, predictor, _documents(g, columns))
    classifier = predictor.task.kind.is_classification
    result = "probabilities" if classifier else "values"
    _blend(g, predictor, counts, result)
    outputs = [helper.make_tensor_value_info(result, TensorProto.FLOAT,
                                             [None, predictor.task.n_classes] if classifier
                                             else [None])]
    label = _label(g, predictor.task.classes, result) if classifier else None
    if label is not None:
        outputs.append(helper.make_tensor_value_info(label[0], label[1], [None]))
    _check_names(g, columns)
    inputs = [helper.make_tensor_value_info(c, TensorProto.STRING, [None]) for c in columns]
    graph = helper.make_graph(g.nodes, "accelml_text", inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(MS_DOMAIN, 1)])
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    return model


def _check_names(g: _Graph, columns: Sequence[str]) -> None:
    """A text column may not share its name with a tensor of the graph."""
    taken = {i.name for i in g.initializers} | {o for n in g.nodes for o in n.output}
    clash = [c for c in columns if c in taken]
    if clash:
        raise ConfigError(f"the text column(s) {', '.join(map(repr, clash))} share a name with "
                          "a tensor of the ONNX graph; rename them and refit to export")


# --- check and write ------------------------------------------------------------------------


def _check_rows(predictor: Any, check: pd.DataFrame | None) -> pd.DataFrame:
    """The rows to compare on: ``check`` without its target, or the built-in sentences."""
    columns = list(predictor.preprocessor.text_columns)
    if check is None:
        n = len(CHECK_SENTENCES)
        return pd.DataFrame({c: [CHECK_SENTENCES[(i + k) % n] for i in range(n)]
                             for k, c in enumerate(columns)})
    target = predictor.task.target
    frame = check.drop(columns=[target]) if target in check.columns else check
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"the check data lacks the text column(s) "
                          f"{', '.join(map(repr, missing))}")
    return frame.reset_index(drop=True)


def _native(predictor: Any, frame: pd.DataFrame) -> np.ndarray:
    """The native probabilities (or values); empty check texts are meant, not warned of."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if predictor.task.kind.is_classification:
            return np.asarray(predictor.predict_proba(frame), dtype=np.float64)
        return np.asarray(predictor.predict(frame), dtype=np.float64)


def run_text_onnx(path: Path, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The exported model's first output (probabilities or values) for the rows of
    ``frame``, in batches."""
    runtime = _require("onnxruntime")
    session = runtime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    parts = []
    for start in range(0, len(frame), CHECK_BATCH):
        rows = frame.iloc[start:start + CHECK_BATCH]
        feeds = {c: np.array(rows[c].where(rows[c].notna(), "").astype(str).tolist(),
                             dtype=object) for c in columns}
        parts.append(np.asarray(session.run(None, feeds)[0], dtype=np.float64))
    return np.concatenate(parts)


def _difference(predictor: Any, path: Path, frame: pd.DataFrame) -> float:
    """The largest difference on ``frame``; an error naming the worst row over
    :data:`TOLERANCE`."""
    columns = list(predictor.preprocessor.text_columns)
    gap = np.abs(run_text_onnx(path, frame, columns) - _native(predictor, frame))
    gap = gap.reshape(len(frame), -1)
    difference = float(gap.max())
    if not difference <= TOLERANCE:
        worst = frame.iloc[int(np.argmax(gap.max(axis=1)))]
        text = " | ".join(str(worst[c])[:80] for c in columns)
        raise ConfigError(f"the ONNX graph differs from the native model by {difference:.2e} "
                          f"on the check rows (most on {text!r}); it was not written")
    return difference


def export_text_onnx(predictor: Any, output: Path, check: pd.DataFrame | None) -> float:
    """Write the text model at ``output`` as ONNX and return its largest difference from
    ``predictor`` on the ``check`` rows (built-in sentences when None). The graph is written
    to a temporary file beside ``output`` and moved there only once the check passes."""
    onnx = _require("onnx")
    _require("onnxruntime")
    _check_exportable(predictor)
    model = text_graph(predictor)
    frame = _check_rows(predictor, check)
    output = Path(output)
    made = _missing_folders(output.parent)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".accelml-export-", suffix=".onnx",
                                    dir=output.parent)
    os.close(handle)
    staging = Path(name)
    try:
        onnx.save(model, str(staging))
        difference = _difference(predictor, staging, frame)
        os.replace(staging, output)
    except BaseException:
        staging.unlink(missing_ok=True)
        for folder in made:  # deepest first; only the empty folders this call made
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return difference


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing

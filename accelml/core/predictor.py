"""Predictor: what a finished run hands the user: predict, predict_proba, evaluate,
leaderboard, save and load. Modality-agnostic: a preprocessor turns raw rows into Features.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from accelml._version import __version__
from accelml.core import constant as _constant  # noqa: F401  (registers the fallback model)
from accelml.core import metrics as metric_registry
from accelml.core.artifacts import read_manifest, write_model_dir
from accelml.core.data import Features
from accelml.core.learner import Fitted, discover, get_learner
from accelml.core.modality import registered_modalities
from accelml.core.stacking import Stacker
from accelml.core.task import Task, decode_target, encode_target
from accelml.core.unseen import UnseenGuard
from accelml.errors import ArtifactError, DataError, TargetError

T = TypeVar("T")


class Preprocessor(Protocol):
    """Turns raw rows of one modality into Features; serialisable to JSON.

    A preprocessor may also offer ``labelled(data) -> (Features, labels)`` for inputs that
    carry their labels themselves (a folder of class sub-folders), used by ``evaluate``.
    """

    kind: str

    def transform(self, data: Any) -> Features:
        """Features for the rows of ``data`` (schema checked)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        ...


def _is_records(data: Any) -> bool:
    """A list of row mappings (JSON records): the fast path of preprocessors that have one."""
    return isinstance(data, list) and all(isinstance(row, Mapping) for row in data)


@dataclass
class Member:
    """One fitted model of the final predictor and its weight in the blend; ``group`` is the
    trial it comes from (a bag's fold models share one), which a stacker reads as one input."""

    learner: str
    config: dict[str, Any]
    fitted: Fitted
    weight: float = 1.0
    group: int | None = None


@dataclass
class Predictor:
    """A trained model ready to predict, evaluate and be saved."""

    task: Task
    preprocessor: Preprocessor
    members: list[Member]
    board: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict[str, Any] = field(default_factory=dict)
    stacker: Stacker | None = None
    #: The served blend's out-of-fold predictions (NaN on rows no split validated) while
    #: the run that made it finishes (a forecast's intervals are built from them); not saved.
    validation: np.ndarray | None = field(default=None, repr=False)
    #: Encoded training rows (a small random sample) that model-agnostic explanations
    #: start from, saved as ``background.npy``; None where inputs are not plain rows.
    background: np.ndarray | None = field(default=None, repr=False)
    #: For classifiers of plain rows: the mix toward the class shares for rows missing
    #: values training rows had (:mod:`accelml.core.unseen`); None: none.
    guard: UnseenGuard | None = field(default=None, repr=False)

    @property
    def classes(self) -> list[Any]:
        """Class labels in the column order of :meth:`predict_proba`."""
        return list(self.task.classes)

    def _features(self, data: Any) -> Features:
        if isinstance(data, pd.DataFrame) and self.task.target in data.columns:
            data = data.drop(columns=[self.task.target])
        records = getattr(self.preprocessor, "transform_records", None)
        if records is not None and _is_records(data):
            return records(data)  # type: ignore[no-any-return]
        return self.preprocessor.transform(data)

    def blend(self, features: Features) -> np.ndarray:
        """The served model's raw output for encoded features: class probabilities, or
        values (what explanations and diagnostics perturb and score)."""
        if self.stacker is not None:
            blended = self.stacker.combine(self.group_predictions(features))
        else:
            blended = self._weighted_average(features)
        return blended if self.guard is None else self.guard.shrink(features.X, blended)

    def _weighted_average(self, features: Features) -> np.ndarray:
        total = sum(member.weight for member in self.members)
        blended: np.ndarray | None = None
        for member in self.members:
            part = get_learner(member.learner).predict(member.fitted, features) * member.weight
            blended = part if blended is None else blended + part
        assert blended is not None
        return blended / total

    def group_predictions(self, features: Features) -> list[np.ndarray]:
        """Each stacker input: the weighted average of its group's members, in the
        stacker's order."""
        assert self.stacker is not None
        sums: dict[int | None, np.ndarray] = {}
        totals: dict[int | None, float] = {}
        for member in self.members:
            part = get_learner(member.learner).predict(member.fitted, features) * member.weight
            sums[member.group] = sums[member.group] + part if member.group in sums else part
            totals[member.group] = totals.get(member.group, 0.0) + member.weight
        return [sums[group] / totals[group] for group in self.stacker.groups]

    def _modality(self) -> Any:
        modality = registered_modalities().get(self.preprocessor.kind)
        if modality is None:
            raise ArtifactError(f"no installed modality reads {self.preprocessor.kind!r} "
                                "models; install the extra for that modality")
        return modality

    def _own(self, step: str, data: Any) -> Any:
        """What the modality's ``step`` (predict, evaluate) gives, or NotImplemented where
        the common path applies (a preprocessor of no registered modality included)."""
        modality = registered_modalities().get(self.preprocessor.kind)
        return NotImplemented if modality is None else getattr(modality, step)(self, data)

    def recommend(self, users: Any, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The top ``k`` items of each user (recommendation models): one row per (user,
        item) with ``rank`` (1 = best), ``score`` and whether the user was unknown."""
        return self._modality().recommend(self, list(users), k, exclude_seen)  # type: ignore

    def similar_items(self, items: Any, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most like each of ``items`` (recommendation models)."""
        if isinstance(items, str | int | np.integer):
            items = [items]
        return self._modality().similar_items(self, list(items), k)  # type: ignore

    def forecast(self, horizon: int | None = None, history: Any = None, future: Any = None,
                 ids: Any = None) -> pd.DataFrame:
        """The next ``horizon`` steps of each series (forecasting models; the horizon the
        model was fitted for when None): the id and time columns, the point forecast under
        the target's name, then one column per quantile. ``history`` forecasts from a new
        history instead of the training one; ``future`` holds the covariates of the steps
        ahead; ``ids`` picks series."""
        return self._modality().forecast(  # type: ignore[no-any-return]
            self, horizon, history, future, None if ids is None else list(ids))

    def explain(self, data: Any, top: int = 3, max_rows: int = 1000) -> pd.DataFrame:
        """Each answer beside the ``top`` reasons for it: for tables the columns with the
        largest SHAP values ("age=52 (+0.31)"), for texts the words that moved the answer
        most, for images a saliency map per image (column ``saliency``). ``attrs`` of the
        result say what the numbers are and how they were computed. More rows than
        ``max_rows`` are refused, since explaining costs many predictions per row."""
        return self._modality().explain(  # type: ignore[no-any-return]
            self, data, top=top, max_rows=max_rows)

    def predict(self, data: Any) -> np.ndarray:
        """Labels as they were in the training target, or values for regression."""
        own = self._own("predict", data)
        if own is not NotImplemented:
            return own  # type: ignore[no-any-return]
        raw = self.blend(self._features(data))
        if not self.task.kind.is_classification:
            return raw
        return decode_target(metric_registry.predicted_labels(raw, self.task), self.task)

    def predict_with_proba(self, data: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels (or values) and, for classifiers, the probability matrix (columns in the
        order of :attr:`classes`), from one pass over the models: what a server answers."""
        own = self._own("predict", data)
        if own is not NotImplemented:
            return own, None
        raw = self.blend(self._features(data))
        if not self.task.kind.is_classification:
            return raw, None
        labels = decode_target(metric_registry.predicted_labels(raw, self.task), self.task)
        return labels, raw

    def predict_proba(self, data: Any) -> pd.DataFrame:
        """Class probabilities; the columns are the class labels."""
        if not self.task.kind.is_classification:
            raise DataError("predict_proba needs a classification model; this one is a "
                            "regressor: use predict")
        raw = self.blend(self._features(data))
        index = data.index if isinstance(data, pd.DataFrame) else None
        return pd.DataFrame(raw, index=index, columns=pd.Index(self.task.classes))

    def evaluate(self, data: Any) -> dict[str, float]:
        """Every metric that applies to the task, on labelled rows (a DataFrame with the
        target column, or an input that carries its labels, such as a folder of classes)."""
        own = self._own("evaluate", data)
        if own is not NotImplemented:
            return own  # type: ignore[no-any-return]
        if not isinstance(data, pd.DataFrame):
            labelled_fn = getattr(self.preprocessor, "labelled", None)
            if labelled_fn is None:
                raise DataError(f"evaluate needs a DataFrame with the target column, got "
                                f"{type(data).__name__}")
            features, labels = labelled_fn(data)
            y = encode_target(pd.Series(labels), self.task)
            return metric_registry.report(y, self.blend(features), self.task)
        target = self.task.target
        if target not in data.columns:
            raise TargetError(f"evaluate needs the target column {target!r} in the data; it "
                              f"has {list(data.columns)[:10]}")
        labelled = data[data[target].notna()]
        if len(labelled) < len(data):
            warnings.warn(f"{len(data) - len(labelled)} rows with a missing target were left "
                          "out of the evaluation", UserWarning, stacklevel=2)
        if labelled.empty:
            raise TargetError(f"no row has a value in the target column {target!r}")
        y = encode_target(labelled[target], self.task)
        raw = self.blend(self._features(labelled))
        return metric_registry.report(y, raw, self.task)

    def leaderboard(self) -> pd.DataFrame:
        """Every trial of the search, best first."""
        return self.board.copy()

    def save(self, directory: str | Path) -> Path:
        """Write the model directory (atomic; an existing model there is replaced)."""
        return write_model_dir(Path(directory), self._write)

    def _write(self, staging: Path) -> dict[str, Any]:
        (staging / "preprocessor.json").write_text(json.dumps(self.preprocessor.to_dict()))
        save_files = getattr(self.preprocessor, "save_files", None)
        if save_files is not None:  # arrays a preprocessor keeps beside its JSON state
            save_files(staging / "preprocessor")
        self.board.to_csv(staging / "leaderboard.csv", index=False)
        if self.background is not None:
            np.save(staging / BACKGROUND, self.background, allow_pickle=False)
        members = []
        for index, member in enumerate(self.members):
            folder = staging / "members" / str(index)
            folder.mkdir(parents=True)
            get_learner(member.learner).save(member.fitted, folder)
            members.append({"learner": member.learner, "config": member.config,
                            "weight": member.weight, "group": member.group,
                            "dir": f"members/{index}"})
        schema = getattr(self.preprocessor, "schema", None)
        return {"accelml_version": __version__, "modality": self.preprocessor.kind,
                "task": self.task.to_dict(), "metric": self.task.metric,
                "schema": schema, "members": members, "run": self.info,
                "stacker": self.stacker.to_dict() if self.stacker else None,
                "unseen_guard": self.guard.to_dict() if self.guard else None,
                "leaderboard": json.loads(self.board.to_json(orient="records"))}

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        """Read a model directory written by :meth:`save`, verifying every file first."""
        root = Path(directory)
        manifest = read_manifest(root)
        kind = manifest.get("modality")
        modality = registered_modalities().get(str(kind))
        if modality is None:
            raise ArtifactError(f"{root} holds a {kind!r} model, which this installation "
                                "cannot load; install the extra for that modality")
        _check_listed(root, manifest)
        task = _from_manifest(root, "task", lambda: Task.from_dict(manifest["task"]))
        discover(modality.learner_modules)  # a fresh process has no learner registered
        preprocessor = _from_manifest(root, "preprocessor.json", lambda: (
            modality.preprocessor_from_dict(json.loads((root / "preprocessor.json")
                                                       .read_text()))))
        load_files = getattr(preprocessor, "load_files", None)
        if load_files is not None:
            _from_manifest(root, "preprocessor", lambda: load_files(root / "preprocessor"))
        members = [
            Member(m["learner"], m["config"],
                   get_learner(m["learner"]).load(root / m["dir"], task), m["weight"],
                   m.get("group"))
            for m in manifest["members"]
        ]
        board = pd.read_csv(root / "leaderboard.csv")
        stacker = manifest.get("stacker")
        background = (_from_manifest(root, BACKGROUND, lambda: np.load(
            root / BACKGROUND, allow_pickle=False)) if BACKGROUND in manifest["files"] else None)
        guard = manifest.get("unseen_guard")
        return cls(task, preprocessor, members, board, manifest.get("run", {}),
                   _from_manifest(root, "stacker", lambda: Stacker.from_dict(stacker))
                   if stacker else None, background=background,
                   guard=_from_manifest(root, "unseen_guard",
                                        lambda: UnseenGuard.from_dict(guard))
                   if guard else None)


#: The explanations' background rows (see :attr:`Predictor.background`).
BACKGROUND = "background.npy"

#: Files every model directory has; loading reads them, so the manifest must vouch for them.
_REQUIRED_FILES = ("preprocessor.json", "leaderboard.csv")


def _check_listed(root: Path, manifest: dict[str, Any]) -> None:
    """Loading reads only files the manifest lists (and so were hash-checked), and needs its
    task and members."""
    files = manifest["files"]
    for name in _REQUIRED_FILES:
        if name not in files:
            raise ArtifactError(f"{root}: {name} is not listed in the manifest; the model "
                                "directory is damaged or was edited: save or train it again")
    if "task" not in manifest or not manifest.get("members"):
        raise ArtifactError(f"{root}: the manifest has no task or no members; the model "
                            "directory is damaged or was edited: save or train it again")
    for member in manifest["members"]:
        if not any(name.startswith(f"{member['dir']}/") for name in files):
            raise ArtifactError(f"{root}: member folder {member['dir']!r} holds no file the "
                                "manifest lists; the model directory is damaged or was "
                                "edited: save or train it again")


def _from_manifest(root: Path, part: str, build: Callable[[], T]) -> T:
    """``build()``, with a malformed part of the model directory as an ArtifactError."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ArtifactError(f"{root}: {part} is malformed ({type(error).__name__}: {error}); "
                            "the model directory is damaged or was edited: save or train it "
                            "again") from None

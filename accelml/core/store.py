"""The run store: a run's trial history in an Optuna storage, its trial files on disk.

Every finished trial becomes one Optuna trial (value: the loss; state COMPLETE or FAIL) whose
``accelml`` user attribute holds the whole record: learner, config, fidelity, score, cost,
reason, and the paths of its out-of-fold predictions and kept models, relative to the run
directory. The storage is a SQLite file in the run directory by default, or any database URL
Optuna accepts (PostgreSQL for a history shared across machines).

The run directory (``<model dir>/run/``) holds ``run.json`` (how the run was started, how
much of its budget it has spent), the dataset view the workers read, and the trial files. A
run killed at any point can be resumed from it: what finished is read back, nothing is redone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from accelml.core.artifacts import check_inside, json_default
from accelml.core.learner import FitFacts
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus
from accelml.errors import AccelMLError, ConfigError

#: The run directory's name inside the model directory.
RUN_DIR = "run"
RUN_FILE = "run.json"
DB_FILE = "trials.db"
#: Optuna user attribute that holds the record.
RECORD_ATTR = "accelml"
#: Tries at opening a storage whose schema another driver is creating at the same time.
OPEN_ATTEMPTS = 5
SCHEMA_RACE_MARKERS = ("already exists", "unique constraint", "duplicate key",
                       "database is locked")
#: Trial files removed once the model is saved (the history, run.json and the db stay).
BULKY = ("trials", "view", "final")


@dataclass(frozen=True)
class StoredTrial:
    """A finished trial read back from the store, with how the searcher produced it."""

    result: TrialResult
    key: int  # the config's identity across successive-halving rungs
    source: str  # "portfolio", "sampler" or "promotion"
    run_id: str  # the run (driver) that ran it


def run_dir(model_dir: Path) -> Path:
    """Where a model directory keeps its run store."""
    return Path(model_dir) / RUN_DIR


def has_unfinished_run(model_dir: Path) -> bool:
    """True when ``model_dir`` holds a run that started and never finished."""
    path = run_dir(model_dir) / RUN_FILE
    if not path.is_file():
        return False
    try:
        return not json.loads(path.read_text()).get("finished", False)
    except ValueError:
        return True


def check_no_unfinished_run(model_dir: Path | None) -> None:
    """A new run must not overwrite one that can still be resumed: say how to go on."""
    if model_dir is not None and has_unfinished_run(Path(model_dir)):
        raise ConfigError(f"{model_dir} holds an unfinished run; continue it with `accelml fit "
                          f"--resume {model_dir}` (accelml.resume in Python), or remove "
                          f"{run_dir(Path(model_dir))} to start over")


@contextlib.contextmanager
def stored_run(model_dir: Path | None, start: dict[str, Any], storage: str | None,
               study_name: str | None, resumed: RunStore | None = None
               ) -> Iterator[RunStore | None]:
    """The run store of a run saving into ``model_dir`` (None without one): ``resumed``, or a
    new store. A new run that ends in an error (bad data, no model) leaves nothing behind; a
    run killed or interrupted keeps its store, to be resumed."""
    if model_dir is None:
        if storage is not None:
            raise ConfigError("--storage records the run next to its model; pass --out (out= "
                              "in Python) too")
        yield None
        return
    existed = Path(model_dir).exists()
    store = resumed or RunStore.create(Path(model_dir), start, storage, study_name)
    try:
        yield store
    except AccelMLError:
        if resumed is None:
            store.discard(remove_parent=not existed)
        raise


def save_and_finish(predictor: Any, model_dir: Path | None, store: RunStore | None) -> None:
    """Save the model into ``model_dir`` (when given), then close the run: it can no
    longer be resumed and its bulky trial files go."""
    if model_dir is not None:
        predictor.save(model_dir)
    if store is not None:
        store.finish()


def _sqlite_url(root: Path) -> str:
    return f"sqlite:///{(root / DB_FILE).resolve()}"


def _open_storage(url: str) -> optuna.storages.BaseStorage:
    """The Optuna storage at ``url``, with an error that names the URL and the fix. Drivers
    starting together race to create the schema: the loser tries again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except ImportError as error:
            raise ConfigError(f"storage {url!r} needs a database driver that is not installed "
                              f"({error}); for PostgreSQL: pip install 'accelml[distributed]'"
                              ) from None
        except Exception as error:  # SQLAlchemy's errors name the database, not the fix
            if attempt + 1 < OPEN_ATTEMPTS and _is_schema_race(error):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise ConfigError(f"cannot open the trial storage {url!r}: {_one_line(error)}; "
                              "check the URL, the server and the credentials (or omit "
                              "--storage for a SQLite file in the run directory)") from None
    raise AssertionError("unreachable")


def _is_schema_race(error: BaseException) -> bool:
    """True for the errors of two drivers creating the same tables at once."""
    text = str(error).lower()
    return any(marker in text for marker in SCHEMA_RACE_MARKERS)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


class RunStore:
    """One run's trial history (an Optuna study) and its run directory."""

    def __init__(self, root: Path, meta: dict[str, Any],
                 storage: optuna.storages.BaseStorage | None = None) -> None:
        self.root = root
        self.meta = meta
        self.storage_url = str(meta["storage"])
        self.study = optuna.load_study(study_name=str(meta["study_name"]),
                                       storage=storage or _open_storage(self.storage_url))
        self._seen_foreign: set[int] = set()
        self._last_beat = 0.0
        #: Seconds of the budget earlier sessions spent (0 for a new run).
        self.spent_before_s = float(meta.get("spent_s", 0.0))

    @classmethod
    def create(cls, model_dir: Path, start: dict[str, Any], storage: str | None = None,
               study_name: str | None = None) -> RunStore:
        """Start a new run in ``model_dir``: any earlier run store there is replaced.

        ``start`` is how the run was asked for (data source, target, options), kept so that
        ``--resume`` can start it again the same way.
        """
        root = run_dir(model_dir)
        existed = Path(model_dir).exists()
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        run_id = uuid.uuid4().hex[:12]
        url = storage or _sqlite_url(root)
        name = study_name or f"accelml-{run_id}"
        try:
            opened = _open_storage(url)
            optuna.create_study(study_name=name, storage=opened, direction="minimize",
                                load_if_exists=True)
        except BaseException:  # a storage that cannot be opened leaves nothing behind
            _remove_run_dir(root, remove_parent=not existed)
            raise
        meta = {"run_id": run_id, "storage": url, "study_name": name, "start": start,
                "shared": study_name is not None, "spent_s": 0.0, "resumed": 0,
                "finished": False}
        _write_json(root / RUN_FILE, meta)
        return cls(root, meta, opened)

    @classmethod
    def open(cls, model_dir: Path) -> RunStore:
        """Reopen the unfinished run in ``model_dir`` (for ``--resume``)."""
        root = run_dir(model_dir)
        path = root / RUN_FILE
        if not path.is_file():
            raise ConfigError(f"{model_dir} holds no run to resume (no {RUN_DIR}/{RUN_FILE}); "
                              "pass the --out directory of an interrupted `accelml fit`")
        try:
            meta = json.loads(path.read_text())
        except ValueError as error:
            raise ConfigError(f"{path} is damaged ({error}); start the run again") from None
        if meta.get("finished"):
            raise ConfigError(f"the run in {model_dir} already finished and saved its model; "
                              "there is nothing to resume (start a new run to search again)")
        store = cls(root, meta)
        store.meta["resumed"] = int(meta.get("resumed", 0)) + 1
        store.save_meta()
        return store

    @property
    def run_id(self) -> str:
        """This run's id (a shared study holds the trials of several runs)."""
        return str(self.meta["run_id"])

    def save_meta(self) -> None:
        """Write run.json again (atomically)."""
        _write_json(self.root / RUN_FILE, self.meta)

    def heartbeat(self, spent_s: float, every_s: float = 2.0) -> None:
        """Record how much of the budget the run has spent (at most every ``every_s``), so
        that a resumed run spends only what is left."""
        now = time.monotonic()
        if now - self._last_beat >= every_s:
            self._last_beat = now
            self.meta["spent_s"] = round(spent_s, 3)
            self.save_meta()

    def record(self, result: TrialResult, loss: float | None, key: int, source: str) -> None:
        """Add a finished search trial to the history."""
        record = {
            "run_id": self.run_id, "key": key, "source": source,
            "trial_id": result.spec.trial_id, "learner": result.spec.learner,
            "config": result.spec.config, "fidelity": result.spec.fidelity,
            "time_limit_s": result.spec.time_limit_s, "seed": result.spec.seed,
            "n_jobs": result.spec.n_jobs, "timed": result.spec.timed,
            "status": result.status.value, "score": result.score, "cost_s": result.cost_s,
            "error": result.error, "info": result.info, "facts": result.facts.to_dict(),
            "oof": self._relative(result.oof_path),
            "model": self._relative(result.artifact_dir),
            "folds": self._relative(result.bag_dir),
        }
        ok = result.status is TrialStatus.OK and loss is not None
        self.study.add_trial(create_trial(
            state=TrialState.COMPLETE if ok else TrialState.FAIL,
            value=loss if ok else None,
            user_attrs={RECORD_ATTR: json.loads(json.dumps(record, default=json_default))}))

    def _relative(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:  # outside the run directory (should not happen): keep it as is
            return str(path)

    def _records(self) -> list[dict[str, Any]]:
        trials = self.study.get_trials(deepcopy=False)
        return [t.user_attrs[RECORD_ATTR] for t in trials if RECORD_ATTR in t.user_attrs]

    def own_trials(self) -> list[StoredTrial]:
        """This run's finished trials, in trial order, with every file they left in place
        (a trial whose files are gone is left out: it will be run again)."""
        stored = [self._stored(r) for r in self._records() if r["run_id"] == self.run_id]
        usable = [s for s in stored if _files_exist(s.result)]
        return sorted(usable, key=lambda s: s.result.spec.trial_id)

    @property
    def shared(self) -> bool:
        """True when the run records into a study named by the user, which other runs may
        share; a run's own unnamed study has no other runs to learn from."""
        return bool(self.meta.get("shared", False))

    def new_foreign_trials(self) -> list[StoredTrial]:
        """Trials other runs sharing this study finished since the last call."""
        if not self.shared:
            return []
        fresh = []
        for trial in self.study.get_trials(deepcopy=False):
            record = trial.user_attrs.get(RECORD_ATTR)
            if record is None or record["run_id"] == self.run_id:
                continue
            if trial.number in self._seen_foreign:
                continue
            self._seen_foreign.add(trial.number)
            fresh.append(self._stored(record))
        return fresh

    def _stored(self, record: dict[str, Any]) -> StoredTrial:
        def path(name: str) -> Path | None:
            value = record.get(name)
            if value is None:
                return None
            check_inside(str(value), self.root / RUN_FILE)  # a record names its own files
            return self.root / str(value)

        trial_id = int(record["trial_id"])
        spec = TrialSpec(trial_id, record["learner"], dict(record["config"]),
                         record["fidelity"], float(record["time_limit_s"]), int(record["seed"]),
                         int(record["n_jobs"]), output_dir=self.root / "trials" / str(trial_id),
                         timed=bool(record.get("timed", True)))
        result = TrialResult(spec, TrialStatus(record["status"]), record["score"],
                             float(record["cost_s"]), path("oof"), path("model"), path("folds"),
                             record["error"], dict(record["info"] or {}),
                             FitFacts.from_dict(record.get("facts") or {}))
        return StoredTrial(result, int(record["key"]), str(record["source"]),
                           str(record["run_id"]))

    def finish(self) -> None:
        """Mark the run finished and remove its bulky trial files (the model is saved);
        the history and run.json stay."""
        self.meta["finished"] = True
        self.save_meta()
        for name in BULKY:
            shutil.rmtree(self.root / name, ignore_errors=True)


    def discard(self, remove_parent: bool = False) -> None:
        """Remove the run directory (and the model directory, when the run created it and it
        is empty now)."""
        _remove_run_dir(self.root, remove_parent)


def _remove_run_dir(root: Path, remove_parent: bool) -> None:
    shutil.rmtree(root, ignore_errors=True)
    parent = root.parent
    if remove_parent and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()


def _files_exist(result: TrialResult) -> bool:
    paths = [result.oof_path, result.artifact_dir, result.bag_dir]
    return all(path is None or path.exists() for path in paths)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically: a killed run never leaves half a file."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(json.dumps(data, indent=2, default=json_default))
    os.replace(staging, path)

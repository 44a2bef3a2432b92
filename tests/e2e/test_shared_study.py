"""Two driver processes share one study (--storage URL --study-name NAME): both record into it
and each learns from the other's trials. On SQLite always; on PostgreSQL when a server can be
started here (initdb and pg_ctl on the PATH), else that case is skipped with the reason."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

import accelml
from accelml.core.store import RECORD_ATTR

BUDGET = "30"  # a 14 s budget bought one trial per driver on a loaded machine ...
MAX_TRIALS = "3"  # ... and a trial cap (of each driver's own trials) ends each driver's
# search well before it on an idle one; the second starts once the first has recorded one


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root with no 'postgres' user to start PostgreSQL as; the "
                    "SQLite case covers the same path")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 for this module (or ACCELML_TEST_POSTGRES's)."""
    given = os.environ.get("ACCELML_TEST_POSTGRES")
    if given:
        yield given
        return
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install "
                        "'accelml[distributed]'); the SQLite case covers the same path")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed here (no initdb / pg_ctl on the PATH); the "
                    "SQLite case covers the same path")
    prefix = _as_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="accelml-pg-"))
    if prefix:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "accelml", "--auth=trust"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options,
                    "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://accelml@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _driver(train: Path, out: Path, storage: str, study: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "accelml.cli", "fit", str(train), "--target", "diagnosis",
         "--out", str(out), "--time-budget", BUDGET, "--max-trials", MAX_TRIALS, "--n-jobs", "1",
         "--learners", "lightgbm,linear", "--storage", storage, "--study-name", study,
         "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _two_drivers_share(train: Path, tmp_path: Path, storage: str) -> None:
    study = f"shared-{tmp_path.name}"
    outs = [tmp_path / "first", tmp_path / "second"]
    first = _driver(train, outs[0], storage, study)
    _wait_for_a_trial(first, storage, study)
    drivers = [first, _driver(train, outs[1], storage, study)]
    for driver in drivers:
        _, stderr = driver.communicate(timeout=120)
        assert driver.returncode == 0, stderr
    infos = [accelml.load(out).info for out in outs]
    records = [t.user_attrs[RECORD_ATTR] for t in _trials(storage, study)]
    runs = {record["run_id"] for record in records}
    assert runs == {info["run_id"] for info in infos}  # both recorded into the one study
    for info in infos:
        own = sum(record["run_id"] == info["run_id"] for record in records)
        assert own == info["trials"]
        assert info["study_name"] == study
    # the second joined a study holding the first's trials: it learned from them before its
    # own first proposal (whether the first still searched when the second's trials came
    # depends on the clock: on a busy machine each driver may finish one trial)
    assert infos[1]["shared_trials"] > 0


def _trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials, read through a storage closed afterwards: a connection left to
    the garbage collector warns later, inside whichever test is running then."""
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=study, storage=storage).trials
    finally:
        storage.engine.dispose()


def _wait_for_a_trial(driver: subprocess.Popen[str], storage: str, study: str) -> None:
    """Wait until ``driver`` has recorded a trial into ``study`` (or has ended)."""
    while driver.poll() is None:
        try:
            if _trials(storage, study):
                return
        except Exception:  # noqa: BLE001 - the driver is still creating the storage or study
            pass
        time.sleep(0.2)
    raise AssertionError(f"the first driver ended before recording a trial: "
                         f"{driver.communicate()[1]}")


@pytest.mark.slow
def test_two_drivers_share_a_sqlite_study(cancer_files: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    _two_drivers_share(cancer_files[0], tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.slow
def test_two_drivers_share_a_postgresql_study(cancer_files: tuple[Path, Path], tmp_path: Path,
                                              postgres_url: str) -> None:
    _two_drivers_share(cancer_files[0], tmp_path, postgres_url)


def test_an_unreachable_database_is_a_clear_error(cancer_files: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://nobody@127.0.0.1:{_free_port()}/none"
    result = subprocess.run(
        [sys.executable, "-m", "accelml.cli", "fit", str(cancer_files[0]), "--target",
         "diagnosis", "--out", str(tmp_path / "model"), "--time-budget", "5",
         "--storage", url, "--quiet"], capture_output=True, text=True)
    assert result.returncode != 0 and "cannot open the trial storage" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "model").exists()

"""A global neural forecaster: one N-BEATS-like multilayer perceptron over every series.

The network reads the last ``L`` values of a series (``L`` = ``input_multiple`` x horizon,
at least a season and one step, at most ``MAX_INPUT``) and forecasts the next ``horizon``
values at once, so no forecast feeds the next. It learns from windows cut from every
series' history (one model for all series, which is what wins where there are many related
series and the statistical models, fitted one at a time, see too little). Each window is put
on its own scale (less its mean, over its mean absolute deviation) and the loss is the mean
absolute error on that scale, close to what MASE scores. Windows of a short series are
padded on the left with its first value, and a 0/1 mask tells the network which values are
real; targets past a series' end are left out of the loss.

The network forecasts a correction to the seasonal naive forecast (or the naive one) of its
window, and its last layer starts at zero: an untrained network (a deadline that came first)
forecasts that baseline. Trained with Adam, a warmup-then-cosine learning rate and, given a
validation window, early stopping that keeps the best epoch's weights. Saved as safetensors
weights, the histories it forecasts from as arrays and the rest as JSON (no pickle). torch is
imported only when the learner trains or loads.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.errors import DataError
from accelml.timeseries.learners.base import (
    Forecaster,
    Series,
    SeriesSetup,
    load_arrays,
    save_arrays,
    steps_ahead,
)

MODEL_FILE = "model.safetensors"
#: The longest input window (values of a series the network reads).
MAX_INPUT = 512
#: Windows an epoch draws at most (as many as the histories hold where they hold fewer).
WINDOWS_PER_EPOCH = 32_768
#: Batches an epoch has at least: on small data the batches shrink (to ``MIN_BATCH``).
MIN_STEPS = 4
MIN_BATCH = 16
#: Epochs without a better validation loss before training stops.
PATIENCE = 10
#: Normalized inputs and targets are cut to this many deviations (a window of a flat
#: stretch has a tiny scale).
CLIP = 30.0
#: The config a run starts from; a config given to ``fit`` overrides these.
DEFAULTS: Config = {"width": 256, "layers": 3, "input_multiple": 3, "learning_rate": 1e-3,
                    "epochs": 40, "batch_size": 1024, "dropout": 0.0,
                    "baseline": "seasonal_naive"}


def input_size(config: Config, setup: SeriesSetup) -> int:
    """The values of a series the network reads: ``input_multiple`` horizons, at least a
    season and one step, at most ``MAX_INPUT``."""
    wanted = max(int(config["input_multiple"]) * setup.horizon, setup.season_length + 1, 2)
    return int(min(wanted, MAX_INPUT))


def baseline_index(baseline: str, size: int, horizon: int, season_length: int) -> list[int]:
    """For each forecast step, the input position the baseline repeats: the same step a
    season before the forecast ("seasonal_naive"), or the last value ("naive", and where the
    season does not fit in the window)."""
    m = int(season_length)
    if baseline == "seasonal_naive" and 1 < m <= size:
        return [size - m + step % m for step in range(horizon)]
    return [size - 1] * horizon


def windows(series: Series, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``size`` values of each series (series x size), left-padded with its first
    value, and the mask of the real ones."""
    values = np.empty((len(series.codes), size))
    mask = np.zeros((len(series.codes), size))
    for index in range(len(series.codes)):
        history = series.history(index)[-size:]
        values[index] = history[0]
        values[index, size - len(history):] = history
        mask[index, size - len(history):] = 1.0
    return values, mask


def _build(spec: dict[str, Any]) -> Any:
    """The network of ``spec``: (values, mask) -> ``layers`` x (Linear, ReLU, Dropout) ->
    a linear head, which starts at zero."""
    from torch import nn

    blocks: list[Any] = []
    width_in = 2 * int(spec["input_size"])
    for _ in range(int(spec["layers"])):
        blocks += [nn.Linear(width_in, int(spec["width"])), nn.ReLU()]
        if float(spec["dropout"]) > 0:
            blocks.append(nn.Dropout(float(spec["dropout"])))
        width_in = int(spec["width"])
    head = nn.Linear(width_in, int(spec["horizon"]))
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*blocks, head)


def _normalize(x: Any, mask: Any) -> tuple[Any, Any, Any]:
    """Windows on their own scale: (normalized values, mean, scale), the mean and the mean
    absolute deviation taken over the real values."""
    count = mask.sum(1, keepdim=True).clamp(min=1.0)
    mean = (x * mask).sum(1, keepdim=True) / count
    deviation = ((x - mean).abs() * mask).sum(1, keepdim=True) / count
    level = (x.abs() * mask).sum(1, keepdim=True) / count
    scale = (deviation.maximum(1e-3 * level)).clamp(min=1e-8)
    return ((x - mean) / scale).clamp(-CLIP, CLIP), mean, scale


def _forward(net: Any, x: Any, mask: Any, baseline: Any) -> tuple[Any, Any, Any]:
    """(normalized forecasts, mean, scale) of windows ``x``: the baseline plus the network's
    correction."""
    import torch

    z, mean, scale = _normalize(x, mask)
    return net(torch.cat([z, mask], dim=1)) + z[:, baseline], mean, scale


def forecast(net: Any, values: np.ndarray, mask: np.ndarray, baseline: list[int]) -> np.ndarray:
    """Forecasts (series x horizon) from the windows ``values``, in float64 on the CPU."""
    import torch

    from accelml.tabular.learners.torch_mlp import torch_threads

    with torch_threads(1), torch.inference_mode():
        x = torch.from_numpy(np.asarray(values, dtype=np.float64))
        out, mean, scale = _forward(net, x, torch.from_numpy(np.asarray(mask, np.float64)),
                                    torch.tensor(baseline, dtype=torch.long))
        return np.asarray((out * scale + mean).numpy(), dtype=np.float64)


def _check_finite(series: Series) -> None:
    if not np.isfinite(series.values).all():
        raise DataError("the series hold NaN or infinite values; fill them first")


def _history(series: Series, size: int) -> dict[str, np.ndarray]:
    """What ``predict`` forecasts from: each series' code, last position and last window."""
    _check_finite(series)
    values, mask = windows(series, size)
    return {"codes": series.codes, "last": series.last, "window": values, "mask": mask}


@register
class MLPForecaster(Forecaster):
    """An N-BEATS-like network over every series, forecasting the horizon at once."""

    name = "mlp_forecaster"
    relative_cost = 1.3
    load_modules = ("torch", "safetensors.torch")

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"width": CategoricalDistribution([128, 256, 512]),
                "layers": IntDistribution(2, 4),
                "input_multiple": CategoricalDistribution([1, 2, 3, 5]),
                "learning_rate": FloatDistribution(1e-4, 3e-3, log=True),
                "epochs": IntDistribution(10, 100, log=True),
                "batch_size": CategoricalDistribution([256, 1024]),
                "dropout": FloatDistribution(0.0, 0.3),
                "baseline": CategoricalDistribution(["seasonal_naive", "naive"])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [dict(DEFAULTS),
                {"width": 512, "layers": 4, "input_multiple": 2, "learning_rate": 5e-4,
                 "epochs": 60, "batch_size": 1024, "dropout": 0.1, "baseline": "naive"}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Train the network on windows of every series' history, until ``epochs`` or the
        deadline, whichever comes first."""
        import torch

        from accelml.tabular.learners._common import lib_seed, merge_config
        from accelml.tabular.learners.torch_mlp import torch_threads

        params = merge_config(DEFAULTS, config, self.name)
        setup = SeriesSetup.of(features)
        size = input_size(params, setup)
        series = Series.of(features, y)
        _check_finite(series)
        spec = {"input_size": size, "horizon": setup.horizon, "width": int(params["width"]),
                "layers": int(params["layers"]), "dropout": float(params["dropout"])}
        baseline = baseline_index(str(params["baseline"]), size, setup.horizon,
                                  setup.season_length)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        with torch_threads(n_jobs):
            torch.manual_seed(lib_seed(seed))
            net = _build(spec).to(device)
            trainer = _Trainer(net, params, baseline, device, deadline)
            trainer.set_data(series, size, setup.horizon, lib_seed(seed))
            trainer.set_valid(series, valid, size, setup.horizon)
            ran, kept = trainer.run(int(params["epochs"]))
        best = kept if trainer.valid is not None else None  # chosen by early stopping only
        info = {"learner": self.name, "horizon": setup.horizon,
                "season_length": setup.season_length, "network": spec, "baseline": baseline,
                "config": params, "epochs_done": ran, "best_epochs": best,
                "deadline_hit": trainer.deadline_hit, "device": device}
        model = {"net": net.cpu().double().eval(), **_history(series, size)}
        return Fitted(self.name, model, info, FitFacts(units_trained=ran, refit_units=best))

    def with_history(self, fitted: Fitted, features: Features, y: np.ndarray,
                     config: Config, deadline: Deadline) -> Fitted:
        """The same weights, forecasting from the new history."""
        size = int(fitted.info["network"]["input_size"])
        model = {**fitted.model, **_history(Series.of(features, y), size)}
        return Fitted(self.name, model, fitted.info, fitted.facts)

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Each row's step of its series' forecast (one pass of the network per series)."""
        model = fitted.model
        index, step = steps_ahead(model["codes"], model["last"], features,
                                  int(fitted.info["horizon"]))
        if len(index) == 0:
            return np.empty(0)
        asked = np.unique(index)
        out = forecast(model["net"], model["window"][asked], model["mask"][asked],
                       fitted.info["baseline"])
        return np.asarray(out[np.searchsorted(asked, index), step], dtype=np.float64)

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        from safetensors.torch import save_file

        arrays = {k: v for k, v in fitted.model.items() if k != "net"}
        files = save_arrays(directory, arrays, fitted.info)
        path = directory / MODEL_FILE
        save_file({k: v.contiguous() for k, v in fitted.model["net"].state_dict().items()},
                  str(path))
        return [*files, path]

    def load(self, directory: Path, task: Task) -> Fitted:
        from safetensors.torch import load_file

        from accelml.tabular.learners._common import check_model_file

        arrays, info = load_arrays(directory, self.name)
        net = _build(info["network"])
        net.load_state_dict(load_file(str(check_model_file(directory / MODEL_FILE))))
        return Fitted(self.name, {"net": net.double().eval(), **arrays}, info,
                      FitFacts(units_trained=info["epochs_done"],
                               refit_units=info["best_epochs"]))


class _Trainer:
    """Mini-batch Adam over windows drawn from every series, one epoch at a time."""

    def __init__(self, net: Any, params: Config, baseline: list[int], device: str,
                 deadline: Deadline) -> None:
        import torch

        self.net, self.params, self.device, self.deadline = net, params, device, deadline
        self.baseline = torch.tensor(baseline, dtype=torch.long, device=device)
        self.deadline_hit = False
        self.valid: tuple[Any, ...] | None = None

    def set_data(self, series: Series, size: int, horizon: int, seed: int) -> None:
        """Every series laid end to end, each padded with ``size`` copies of its first value
        before and ``horizon`` of its last after, so a window is a slice of one array."""
        import torch

        lengths = (series.ends - series.starts).astype(np.int64)
        parts = [np.r_[np.full(size, h[0]), h, np.full(horizon, h[-1])]
                 for h in (series.history(i) for i in range(len(lengths)))]
        self.flat = torch.tensor(np.concatenate(parts), dtype=torch.float32,
                                 device=self.device)
        self.base = torch.tensor(np.r_[0, np.cumsum(lengths + size + horizon)[:-1]],
                                 device=self.device)
        self.length = torch.tensor(lengths, device=self.device)
        self.size, self.horizon = size, horizon
        # A window ends before step t of its series (t = 2 .. n-1, 1 for a two-step series).
        self.lowest = np.minimum(2, lengths - 1)
        self.usable = np.flatnonzero(lengths >= 2)
        self.lengths = lengths
        if len(self.usable) == 0:
            raise DataError("every series has fewer than two values; a network learns "
                            "from at least two")
        self.rng = np.random.default_rng(seed)

    def set_valid(self, series: Series, valid: tuple[Features, np.ndarray] | None,
                  size: int, horizon: int) -> None:
        """The validation rows as (series index, step, value), when they are the steps
        after the training histories; otherwise none (no early stopping)."""
        import torch

        if valid is None or len(valid[0]) == 0:
            return
        try:
            index, step = steps_ahead(series.codes, series.last, valid[0], horizon)
        except DataError:
            return
        values, mask = windows(series, size)

        def tensor(array: np.ndarray, dtype: Any = torch.float32) -> Any:
            return torch.tensor(array, dtype=dtype, device=self.device)

        self.valid = (tensor(values), tensor(mask), tensor(index, torch.long),
                      tensor(step, torch.long), tensor(np.asarray(valid[1], np.float64)))

    def _sizes(self) -> tuple[int, int]:
        """(windows an epoch draws, windows a batch holds): as many windows as the
        histories hold, at most ``WINDOWS_PER_EPOCH``, in batches of ``batch_size`` or, on
        small data, small enough for ``MIN_STEPS`` batches."""
        candidates = int((self.lengths - self.lowest)[self.usable].sum())
        batch = min(int(self.params["batch_size"]), max(MIN_BATCH, candidates // MIN_STEPS))
        return min(WINDOWS_PER_EPOCH, max(candidates, batch)), batch

    def _epoch(self) -> tuple[np.ndarray, np.ndarray]:
        """The (series, cut) of an epoch's windows: series drawn alike, then a cut."""
        count = self._sizes()[0]
        chosen = self.rng.choice(self.usable, size=count)
        low, high = self.lowest[chosen], self.lengths[chosen]
        cut = low + np.floor(self.rng.random(count) * (high - low)).astype(np.int64)
        return chosen, np.minimum(cut, high - 1)

    def _loss(self, chosen: Any, cut: Any) -> Any:
        """Mean absolute error of a batch, on each window's scale, over the real targets."""
        import torch

        inputs = torch.arange(self.size, device=self.device)
        outputs = torch.arange(self.horizon, device=self.device)
        start = self.base[chosen] + cut
        x = self.flat[start[:, None] + inputs]
        mask = (cut[:, None] - self.size + inputs >= 0).float()
        target = self.flat[(start + self.size)[:, None] + outputs]
        known = (cut[:, None] + outputs < self.length[chosen][:, None]).float()
        out, mean, scale = _forward(self.net, x, mask, self.baseline)
        target = ((target - mean) / scale).clamp(-CLIP, CLIP)
        return ((out - target).abs() * known).sum() / known.sum().clamp(min=1.0)

    def run(self, epochs: int) -> tuple[int, int]:
        """Train up to ``epochs``; returns (epochs run, epochs of the weights kept)."""
        import torch

        from accelml.tabular.learners.torch_mlp import _OneCycle

        count, batch = self._sizes()
        optimizer = torch.optim.Adam(self.net.parameters(),
                                     lr=float(self.params["learning_rate"]))
        steps = max(1, count // batch)
        cycle = _OneCycle(epochs * steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cycle)
        best_loss, best_epoch, best_state = math.inf, 0, None
        ran, planned = 0, epochs
        while ran < planned and not self._expired():
            started = time.monotonic()
            chosen, cut = (torch.from_numpy(a).to(self.device) for a in self._epoch())
            self.net.train()
            for step in range(steps):
                if self._expired():
                    break
                rows = slice(step * batch, (step + 1) * batch)
                optimizer.zero_grad(set_to_none=True)
                self._loss(chosen[rows], cut[rows]).backward()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                optimizer.step()
                schedule.step()
            else:
                ran += 1
            if self.valid is not None:
                score = self._valid_loss()
                if score < best_loss:
                    best_loss, best_epoch = score, ran
                    best_state = copy.deepcopy(self.net.state_dict())
                elif ran - best_epoch >= PATIENCE:
                    break
            planned = self._replan(planned, ran, time.monotonic() - started)
            cycle.total_steps = max(1, planned * steps)
        if best_state is not None:
            self.net.load_state_dict(best_state)
            return ran, best_epoch
        return ran, ran

    def _expired(self) -> bool:
        if self.deadline.expired():
            self.deadline_hit = True
        return self.deadline_hit

    def _replan(self, planned: int, ran: int, epoch_s: float) -> int:
        """The epochs to end at: fewer than planned when the deadline comes first, so the
        learning rate still anneals to zero by the last epoch that fits."""
        remaining = self.deadline.remaining()
        if math.isinf(remaining) or remaining >= (planned - ran) * epoch_s:
            return planned
        self.deadline_hit = True
        return ran + max(0, int(remaining / max(epoch_s, 1e-9)))

    def _valid_loss(self) -> float:
        """Mean absolute error of the validation rows, on their windows' scales."""
        import torch

        assert self.valid is not None
        values, mask, index, step, actual = self.valid
        self.net.eval()
        with torch.no_grad():
            out, mean, scale = _forward(self.net, values, mask, self.baseline)
            target = (actual - mean[index, 0]) / scale[index, 0]
            return float((out[index, step] - target).abs().mean())

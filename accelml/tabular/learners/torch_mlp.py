"""A PyTorch multilayer perceptron for tables: batch norm, dropout, AdamW, one-cycle steps.

Where scikit-learn's ``mlp`` is a plain network, this one carries what makes networks
competitive on tables: quantile-mapped numbers, embeddings for categories, batch norm and
dropout, a warmup-then-cosine learning rate, and early stopping on the validation fold that
keeps the best epoch's weights. Epochs are its fidelity (successive halving, and the refit
trains as many epochs as early stopping chose). Registered when torch is installed
(``pip install 'accelml[nn]'``); torch is imported only when it trains or loads.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.tabular.learners._common import (
    INFO_FILE,
    FitContext,
    TabularLearner,
    check_model_file,
    lib_seed,
    merge_config,
    n_rounds,
    predict_threads,
)

MODEL_FILE = "model.safetensors"
#: Epochs without a better validation loss before training stops.
PATIENCE = 10
#: Share of the steps spent warming the learning rate up.
WARMUP = 0.05
PREDICT_CHUNK = 65_536


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Hold torch's intra-op threads to ``n`` (never more busy threads than cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@register
class TorchMLP(TabularLearner):
    """Saved as safetensors weights plus the architecture in ``info.json`` (no pickle).

    Trained in float32, it predicts in float64: float32 sums differ between a batch and a
    single row by more than the predictions' tolerance once a regressor scales them back.
    """

    name = "torch_mlp"
    #: Tried right after the quick LightGBM and linear defaults, before the other trees: a
    #: network errs unlike the boosted trees, so a blend gains most from it (letter at
    #: 300 s: tried eighth, its one trial had 6 s per fold and the blend no strong network).
    relative_cost = 1.3
    #: Counted work of an epoch per row and feature, against a boosting round: 64 epochs of
    #: the default network took about 700 (letter) to 1,700 (diamonds) times the count.
    unit_cost = 1000.0
    fidelity = Fidelity("epochs", 8, 64)
    load_modules = ("torch", "safetensors.torch")

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Depth, width, dropout, step size, weight decay, batch size (and label smoothing)."""
        space: dict[str, BaseDistribution] = {
            "layers": IntDistribution(1, 4),
            "width": IntDistribution(64, 1024, log=True),
            "dropout": FloatDistribution(0.0, 0.4),
            "learning_rate": FloatDistribution(3e-4, 1e-2, log=True),
            "weight_decay": FloatDistribution(1e-6, 1e-1, log=True),
            "batch_size": CategoricalDistribution((128, 256, 512)),
        }
        if task.kind.is_classification:
            space["label_smoothing"] = CategoricalDistribution((0.0, 0.05, 0.1))
        return space

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """A three-layer default, then a wider shallow net and a deeper one."""
        smoothing = {"label_smoothing": 0.0} if task.kind.is_classification else {}
        return [
            {"layers": 3, "width": 128, "dropout": 0.1, "learning_rate": 3e-3,
             "weight_decay": 1e-4, "batch_size": 256, **smoothing},
            {"layers": 2, "width": 256, "dropout": 0.2, "learning_rate": 1e-3,
             "weight_decay": 1e-3, "batch_size": 128, **smoothing},
            {"layers": 4, "width": 128, "dropout": 0.0, "learning_rate": 3e-3,
             "weight_decay": 1e-5, "batch_size": 512, **smoothing},
        ]

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        import torch

        from accelml.tabular.learners import _torch_net

        params = merge_config(self.defaults(ctx.task), config, self.name)
        classify = ctx.task.kind.is_classification
        X = features.X
        categorical = set(features.categorical)
        numeric = [c for c in range(X.shape[1]) if c not in categorical]
        spec = {"n_columns": int(X.shape[1]), "categorical": list(features.categorical),
                "cardinalities": [int(k) for k in features.cardinalities],
                "missing": [i for i, c in enumerate(numeric) if np.isnan(X[:, c]).any()],
                "layers": int(params["layers"]), "width": int(params["width"]),
                "dropout": float(params["dropout"]),
                "n_out": ctx.n_classes if classify else 1}
        mean, scale = (0.0, 1.0) if classify else (float(y.mean()), float(y.std()) or 1.0)
        with torch_threads(ctx.n_jobs):
            torch.manual_seed(lib_seed(ctx.seed))
            net = _torch_net.build(spec)
            net.set_encoding(X, mean, scale)
            target = y if classify else (y - mean) / scale
            trainer = _Trainer(net, params, classify, ctx)
            ran, best = trainer.run(X, target, n_rounds(self.fidelity, ctx.fidelity, self.name))
        info = {"network": spec, "epochs": ran, "epochs_done": ran, "best_epochs": best,
                "deadline_hit": trainer.deadline_hit}
        return net.double().eval(), info, FitFacts(units_trained=ran, refit_units=best)

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        import torch

        from accelml.tabular.learners._torch_net import Served

        served = Served(model, info["kind"] != "regression").eval()
        rows = features.X.astype(np.float64)
        with torch_threads(predict_threads(info, len(rows))), torch.inference_mode():
            parts = [served(torch.from_numpy(rows[i:i + PREDICT_CHUNK])).numpy()
                     for i in range(0, len(rows), PREDICT_CHUNK)]
        return np.concatenate(parts).astype(np.float64)

    def to_onnx(self, fitted: Fitted, n_features: int) -> Any:
        """The network with its input encoding (buffers), through the TorchScript exporter:
        the blend's opset (15) is below what torch.export supports."""
        import onnx
        import torch

        from accelml.tabular.export import INPUT, OPSET
        from accelml.tabular.learners._torch_net import Served

        classify = fitted.info["kind"] != "regression"
        output = "probabilities" if classify else "values"
        served = Served(copy.deepcopy(fitted.model).float(), classify).eval()  # ONNX: float32
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            with warnings.catch_warnings():  # its deprecation notice, not a problem of the model
                warnings.simplefilter("ignore")
                torch.onnx.export(served, (torch.zeros(2, n_features),), str(path),
                                  dynamo=False, input_names=[INPUT], output_names=[output],
                                  opset_version=OPSET,
                                  dynamic_axes={INPUT: {0: "rows"}, output: {0: "rows"}})
            return onnx.load(str(path))

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        from safetensors.torch import save_file

        path = directory / MODEL_FILE
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        return [path]

    def _load_model(self, directory: Path) -> Any:
        from safetensors.torch import load_file

        from accelml.tabular.learners._torch_net import build

        info = json.loads((directory / INFO_FILE).read_text())
        net = build(info["network"])
        net.load_state_dict(load_file(str(check_model_file(directory / MODEL_FILE))))
        return net.double().eval()


class _Trainer:
    """Mini-batch AdamW over encoded rows, one epoch at a time, with early stopping."""

    def __init__(self, net: Any, params: Config, classify: bool, ctx: FitContext) -> None:
        self.net, self.params, self.classify, self.ctx = net, params, classify, ctx
        self.deadline_hit = False

    def _loss(self) -> Any:
        import torch

        if self.classify:
            return torch.nn.CrossEntropyLoss(
                label_smoothing=float(self.params.get("label_smoothing", 0.0)))
        return torch.nn.MSELoss()

    def _encoded(self, X: np.ndarray, y: np.ndarray) -> tuple[Any, Any, Any]:
        import torch

        with torch.no_grad():
            numbers, codes = self.net.encode(torch.from_numpy(X.astype(np.float32)))
        target = torch.from_numpy(y.astype(np.int64 if self.classify else np.float32))
        return numbers, codes, target

    def run(self, X: np.ndarray, y: np.ndarray, epochs: int) -> tuple[int, int]:
        """Train up to ``epochs``; returns (epochs run, epochs of the weights kept)."""
        import torch

        numbers, codes, target = self._encoded(X, y)
        valid = None
        if self.ctx.valid is not None:
            valid_features, valid_y = self.ctx.valid
            valid_target = valid_y if self.classify else (
                (valid_y - float(self.net.target_mean)) / float(self.net.target_scale))
            valid = self._encoded(valid_features.X, valid_target)
        n = len(target)
        batch = int(min(self.params["batch_size"], max(16, n // 4)))
        steps = max(1, n // batch)  # the last partial batch is dropped (batch norm)
        optimizer = torch.optim.AdamW(self.net.parameters(),
                                      lr=float(self.params["learning_rate"]),
                                      weight_decay=float(self.params["weight_decay"]))
        cycle = _OneCycle(epochs * steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cycle)
        loss_fn = self._loss()
        generator = torch.Generator().manual_seed(lib_seed(self.ctx.seed))
        best_loss, best_epoch, best_state = math.inf, 0, None
        ran, planned = 0, epochs
        while ran < planned:
            started = time.monotonic()
            self.net.train()
            order = torch.randperm(n, generator=generator)
            for step in range(steps):
                rows = order[step * batch:(step + 1) * batch]
                optimizer.zero_grad(set_to_none=True)
                out = self.net.body_forward(numbers[rows], codes[rows])
                loss = loss_fn(out, target[rows]) if self.classify else \
                    loss_fn(out[:, 0], target[rows])
                loss.backward()
                optimizer.step()
                schedule.step()
            ran += 1
            if valid is not None:
                score = self._valid_loss(valid)
                if score < best_loss:
                    best_loss, best_epoch = score, ran
                    best_state = copy.deepcopy(self.net.state_dict())
                elif ran - best_epoch >= PATIENCE:
                    break
            planned = self._replan(planned, ran, time.monotonic() - started)
            cycle.total_steps = planned * steps
        if best_state is not None:
            self.net.load_state_dict(best_state)
            return ran, best_epoch
        return ran, ran

    def _replan(self, planned: int, ran: int, epoch_s: float) -> int:
        """The epochs to end at: fewer than planned when the deadline comes first, so the
        learning rate still anneals to zero by the last epoch that fits."""
        remaining = self.ctx.deadline.remaining()
        if math.isinf(remaining) or remaining >= (planned - ran) * epoch_s:
            return planned
        self.deadline_hit = True
        return ran + max(0, int(remaining / max(epoch_s, 1e-9)))

    def _valid_loss(self, valid: tuple[Any, Any, Any]) -> float:
        import torch

        numbers, codes, target = valid
        self.net.eval()
        with torch.no_grad():
            out = self.net.body_forward(numbers, codes)
            if self.classify:
                return float(torch.nn.functional.cross_entropy(out, target))
            return float(torch.nn.functional.mse_loss(out[:, 0], target))


class _OneCycle:
    """Learning-rate factor: linear warmup over the first ``WARMUP`` of the steps, then
    cosine decay to zero at ``total_steps`` (which the trainer may shorten mid-way)."""

    def __init__(self, total_steps: int) -> None:
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        warmup = max(1, int(WARMUP * self.total_steps))
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, self.total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

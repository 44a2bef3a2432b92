"""The "text_transformer" learner: the packaged sentence encoder (all-MiniLM-L6-v2) fine-tuned
end to end, mean pooling and a linear head on top, where n-gram learners cannot read word
order or meaning.

Its fidelity is optimizer steps, so successive halving looks at a configuration after a
hundred steps or fewer and a promotion continues the weights of the rung below (``warm_start``); a
fresh rung trial whose pace shows it cannot reach its steps ends after a few timed steps
(``stops_out_of_reach``). AdamW with a linear warm-up then linear or cosine decay, planned
on the steps the deadline fits, so a cut trial still ends at a low learning rate; bf16
autocast on CUDA. Saved as ``model.safetensors`` (backbone and head) beside ``info.json``:
no pickle. torch and transformers are imported only when it trains or loads.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FidelityOutOfReach, FitFacts, Fitted, register
from accelml.core.task import Task, TaskKind
from accelml.errors import ArtifactError, ConfigError, DataError
from accelml.tabular.learners._common import (
    INFO_FILE,
    FitContext,
    TabularLearner,
    check_model_file,
    lib_seed,
    merge_config,
    predict_threads,
)
from accelml.tabular.learners.torch_mlp import torch_threads
from accelml.text.encoder import MAX_TOKENS, load_backbone, load_tokenizer, mean_pool, model_path

MODEL_FILE = "model.safetensors"
#: The block of raw texts the network tokenizes (:attr:`Features.blocks`).
TEXT_BLOCK = "text"
#: Successive halving's first look trains at most this many steps (fewer on small data).
MIN_LOOK_STEPS = 100
#: Passes over the data a fit without a fidelity trains (between MIN_LOOK_STEPS and high).
DEFAULT_EPOCHS = 3
WARMUP_SHARE = 0.06
FINAL_LR_SHARE = 0.01
WEIGHT_DECAY = 0.01
HEAD_DROPOUT = 0.1
GRAD_CLIP = 1.0
#: Rows of similar length are batched together within a bucket of this many batches.
BUCKET_BATCHES = 20
PREDICT_BATCH = 64
#: The loss is read back (a device sync on GPU) and checked for NaN every this many steps.
LOSS_CHECK_STEPS = 25
#: The planned steps are capped at what the deadline fits every this many steps.
CAP_CHECK_STEPS = 5
PLAN_SAFETY = 1.05
#: A fresh rung trial gives up (PRUNED) when its time limit fits under this share of its
#: steps; it looks once after its second step (a miss by REACH_EARLY_MARGIN) and once after
#: REACH_CHECK_STEPS timed steps, as the cnn does.
REACH_SHARE = 0.75
REACH_CHECK_STEPS = 5
REACH_EARLY_MARGIN = 2.0
#: Predicting a text costs about this share of a training step's time per text (forward
#: only); the time for the validation predictions after training is kept back from it.
FORWARD_SHARE = 0.5


def texts_of(features: Features) -> list[str]:
    """The rows' texts (missing ones empty)."""
    if TEXT_BLOCK not in features.blocks:
        raise DataError("learner 'text_transformer' reads the raw texts (the 'text' feature "
                        "block), which these features lack; prepare the data as text "
                        "(--text-column NAME)")
    return [t if isinstance(t, str) else "" for t in features.blocks[TEXT_BLOCK]]


def pick_device() -> Any:
    """CUDA when present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def tokenizer() -> Any:
    """The packaged encoder's tokenizer, read once per process."""
    return load_tokenizer(model_path())


@functools.cache
def _network_class() -> type[Any]:
    """The module class, defined on first use so that importing this file needs no torch."""
    from torch import nn

    class TextNetwork(nn.Module):
        """Encoder, mean of the text's token vectors, dropout, linear head."""

        def __init__(self, backbone: Any, n_outputs: int) -> None:
            super().__init__()
            self.backbone = backbone
            self.dropout = nn.Dropout(HEAD_DROPOUT)
            self.head = nn.Linear(int(backbone.config.hidden_size), n_outputs)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.backbone(input_ids=input_ids,
                                   attention_mask=attention_mask).last_hidden_state
            return self.head(self.dropout(mean_pool(hidden, attention_mask)))

    return TextNetwork


@functools.cache
def _pretrained_backbone() -> Any:
    """The packaged encoder in float32 (whatever the stored weights: a half copy loads as
    such), read once per process; each network trains a copy."""
    return load_backbone(model_path()).float()


def build_network(n_outputs: int, pretrained: bool = True) -> Any:
    """The encoder (its packaged weights, or only its architecture when weights are loaded
    next) with a fresh head of ``n_outputs``."""
    path = model_path()
    if pretrained:
        backbone = copy.deepcopy(_pretrained_backbone())
    else:
        from transformers import AutoConfig, AutoModel

        backbone = AutoModel.from_config(AutoConfig.from_pretrained(str(path),
                                                                    local_files_only=True))
    return _network_class()(backbone, n_outputs)


def n_outputs(info: Mapping[str, Any]) -> int:
    """Outputs of the head: one per class trained on, one for a value."""
    return 1 if info["kind"] == TaskKind.REGRESSION.value else len(info["classes"])


def load_weights(net: Any, path: Path) -> Any:
    """``net`` with the weights of ``path`` (every key, nothing left over)."""
    from safetensors.torch import load_file

    net.load_state_dict(load_file(str(check_model_file(path))), strict=True)
    return net


# --- the learner -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Extra:
    """The fit arguments outside the protocol, and the class codes seen in training."""

    init_from: Path | None = None
    reach_fidelity: bool = False
    classes: list[int] | None = None


@register
class TextTransformer(TabularLearner):
    """The packaged sentence encoder fine-tuned end to end with a linear head."""

    name = "text_transformer"
    modality = "text"
    task_kinds = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS, TaskKind.REGRESSION})
    uses_gpu = True
    #: Costly on a CPU: the n-gram learners' configurations come first.
    relative_cost = 8.0
    fidelity = Fidelity("steps", 4, 3000)
    warm_start = True
    stops_out_of_reach = True
    load_modules = ("torch", "transformers", "safetensors")
    #: What ``fit`` passes its ``_fit`` beside the FitContext (set for one fit at a time).
    _extra: _Extra = _Extra()

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """The fine-tuning recipe; the network itself is fixed (the packaged encoder)."""
        return {"lr": FloatDistribution(1e-5, 1e-4, log=True),
                "schedule": CategoricalDistribution(["linear", "cosine"]),
                "batch_size": CategoricalDistribution([16, 32]),
                "max_length": CategoricalDistribution([64, 128, MAX_TOKENS])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """The usual fine-tuning recipe first, then a gentler and a shorter-input one."""
        return [{"lr": 5e-5, "schedule": "cosine", "batch_size": 32, "max_length": 128},
                {"lr": 3e-5, "schedule": "linear", "batch_size": 32, "max_length": 128},
                {"lr": 8e-5, "schedule": "linear", "batch_size": 16, "max_length": 64}]

    def min_fidelity(self, n_rows: int) -> int:
        """Two passes over small data, else MIN_LOOK_STEPS steps: fewer say little."""
        return max(self.fidelity.low, min(MIN_LOOK_STEPS, 2 * math.ceil(n_rows / 32)))

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None,
            init_from: Path | None = None, reach_fidelity: bool = False) -> Fitted:
        """Train until the weights have seen ``fidelity`` steps, cut short at ``deadline``;
        continuing from the weights in ``init_from`` when they are of this config (a
        promotion or the final fit trains only the steps they lack, with a fresh warm-up:
        a warm restart). With ``reach_fidelity``, raise FidelityOutOfReach after the first
        timed steps when the deadline fits under REACH_SHARE of the steps."""
        classes = ([int(c) for c in np.unique(y)] if task.kind.is_classification else None)
        self._extra = _Extra(None if init_from is None else Path(init_from),
                             reach_fidelity, classes)
        try:
            return super().fit(features, y, config, task=task, fidelity=fidelity,
                               deadline=deadline, n_jobs=n_jobs, seed=seed, valid=valid)
        finally:
            self._extra = _Extra()

    def _fit(self, features: Features, y: np.ndarray, config: Config,
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        import torch

        started = time.monotonic()
        full = merge_config(self.defaults(ctx.task), config, self.name)
        extra = self._extra
        texts = texts_of(features)
        asked = steps_of(ctx.fidelity, len(texts), self.fidelity, self.name)
        with torch_threads(ctx.n_jobs):
            torch.manual_seed(lib_seed(ctx.seed))  # the head's first weights, dropout
            net = build_network(ctx.n_classes or 1)
            parent = continue_from(net, extra.init_from, self.name, full, extra.classes,
                                   ctx.task)
            done = int(parent["steps"]) if parent is not None else 0
            scale = target_scale(y, ctx.task, parent)
            job = Job(net.to(pick_device()), texts, scaled(y, scale, ctx.task), full,
                      np.random.default_rng(lib_seed(ctx.seed)), scale)
            info = fine_tune(job, max(0, asked - done), ctx, parent,
                             REACH_SHARE if extra.reach_fidelity else None)
        total = int(info.pop("trained")) + done
        info.update(config=full, steps=total, warm_start_steps=done, **scale,
                    device_s=round(time.monotonic() - started, 4))
        return job.net.eval(), info, FitFacts(units_trained=total, warm_start_units=done)

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        texts = texts_of(features)
        with torch_threads(predict_threads(info, len(texts))):
            outputs = predict_outputs(model, texts, int(info["config"]["max_length"]))
        broken = ~np.isfinite(outputs).all(axis=1)  # a diverged network scores badly
        outputs[broken] = 0.0
        if info["kind"] == TaskKind.REGRESSION.value:
            return outputs[:, 0] * info["target_std"] + info["target_mean"]
        return softmax(outputs)

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        from safetensors.torch import save_file

        path = directory / MODEL_FILE
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(path))
        return [path]

    def _load_model(self, directory: Path) -> Any:
        info = json.loads((directory / INFO_FILE).read_text())
        net = load_weights(build_network(n_outputs(info), pretrained=False),
                           directory / MODEL_FILE)
        return net.to(pick_device()).eval()


def steps_of(fidelity: int | None, n_rows: int, knob: Fidelity, learner: str) -> int:
    """Steps the weights should have seen: the fidelity, else DEFAULT_EPOCHS passes over the
    rows (at a batch of 32) between MIN_LOOK_STEPS and the fidelity's high end."""
    if fidelity is None:
        return min(knob.high, max(MIN_LOOK_STEPS, DEFAULT_EPOCHS * math.ceil(n_rows / 32)))
    if fidelity < 1:
        raise ConfigError(f"learner {learner!r} got fidelity {fidelity} steps; it needs >= 1")
    return int(fidelity)


def continue_from(net: Any, directory: Path | None, learner: str, config: Config,
                  classes: list[int] | None, task: Task) -> dict[str, Any] | None:
    """Load the weights a trial saved for this very config and classes into ``net`` and
    return that trial's info; None (``net`` as it was) without one, or for another config."""
    if directory is None:
        return None
    try:
        info: dict[str, Any] = json.loads((directory / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    same = (info.get("learner") == learner and info.get("kind") == task.kind.value
            and info.get("config") == dict(config) and info.get("classes") == classes
            and not info.get("constant") and "steps" in info)
    if not same:
        return None
    try:
        load_weights(net, directory / MODEL_FILE)
    except Exception as error:  # safetensors and torch raise their own types
        raise ArtifactError(f"the weights in {directory / MODEL_FILE} could not be read "
                            f"({error}); the file is damaged or of another network") from error
    return info


def target_scale(y: np.ndarray, task: Task, parent: Mapping[str, Any] | None
                 ) -> dict[str, float]:
    """How values are standardized for training (a continuation keeps its parent's)."""
    if task.kind.is_classification:
        return {}
    if parent is not None:
        return {"target_mean": float(parent["target_mean"]),
                "target_std": float(parent["target_std"])}
    std = float(np.std(y)) if len(y) else 0.0
    return {"target_mean": float(np.mean(y)) if len(y) else 0.0,
            "target_std": std if std > 0 else 1.0}


def scaled(y: np.ndarray, scale: Mapping[str, float], task: Task) -> np.ndarray:
    """Training targets: class indices, or standardized values."""
    if task.kind.is_classification:
        return np.asarray(y, dtype=np.int64)
    return ((np.asarray(y, dtype=np.float64) - scale["target_mean"])
            / scale["target_std"]).astype(np.float32)


# --- training ---------------------------------------------------------------------------


@dataclass
class Job:
    """What every training step reads: the network, the texts and targets, the config."""

    net: Any
    texts: list[str]
    y: np.ndarray
    config: Config
    rng: np.random.Generator
    #: How values were standardized (empty for classes).
    scale: Mapping[str, float] = field(default_factory=dict)

    @property
    def device(self) -> Any:
        return next(self.net.parameters()).device

    @property
    def classify(self) -> bool:
        return bool(self.y.dtype.kind == "i")

    def batch_size(self) -> int:
        return max(1, min(int(self.config["batch_size"]), len(self.texts)))

    @functools.cached_property
    def tokens(self) -> list[list[int]]:
        """Every text's word pieces, cut at ``max_length``: tokenized once, not per step."""
        ids: list[list[int]] = tokenizer()(self.texts, truncation=True,
                                           max_length=int(self.config["max_length"]))["input_ids"]
        return ids

    def encode(self, rows: np.ndarray) -> dict[str, Any]:
        """The rows' tokens, padded to the longest of them, on the network's device."""
        import torch

        pieces = [self.tokens[i] for i in rows]
        ids = np.full((len(pieces), max(map(len, pieces))), tokenizer().pad_token_id or 0,
                      dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, piece in enumerate(pieces):
            ids[row, :len(piece)] = piece
            mask[row, :len(piece)] = 1
        return {"input_ids": torch.from_numpy(ids).to(self.device, non_blocking=True),
                "attention_mask": torch.from_numpy(mask).to(self.device, non_blocking=True)}


@dataclass
class Pace:
    """Where a fine-tuning stands against its deadline: the steps asked and done, the
    measured seconds a step, and the cap on the steps the deadline fits."""

    asked: int
    batch: int
    reach_share: float | None
    #: Texts to predict before the deadline after training (the validation rows).
    after_rows: float = 0.0
    step: int = 0
    step_s: float = 0.0
    cap: int | None = None
    first_done: float = 0.0
    ends: deque[float] = field(default_factory=lambda: deque(maxlen=LOSS_CHECK_STEPS + 1))

    def planned(self) -> int:
        """The steps the schedule decays over: those asked, or those the deadline fits."""
        return max(1, self.asked if self.cap is None else min(self.asked, self.cap))

    def reserve_s(self, step_s: float | None = None) -> float:
        """Seconds kept before the deadline for predicting the validation rows."""
        return self.after_rows / self.batch * FORWARD_SHARE * (step_s or self.step_s)

    def must_stop(self, deadline: Deadline) -> bool:
        """True when the deadline (less the reserve) or the cap ends training now."""
        capped = self.cap is not None and self.step >= self.cap
        if capped or deadline.remaining() <= self.reserve_s():
            self.check_reach(deadline, self.step_s)  # stopped before its pace was checked
            return True
        return False

    def fits(self, deadline: Deadline, step_s: float) -> int | None:
        """Steps done plus those the deadline still fits at ``step_s`` (None: no deadline)."""
        remaining = deadline.remaining() - self.reserve_s(step_s)
        if math.isinf(remaining) or step_s <= 0:
            return None
        return self.step + int(max(0.0, remaining) / (step_s * PLAN_SAFETY))

    def check_reach(self, deadline: Deadline, step_s: float, margin: float = 1.0) -> None:
        """Raise FidelityOutOfReach when the deadline fits under ``reach_share`` of the
        steps asked; a ``margin`` above 1 (the early look) raises only on a miss by that
        factor and leaves the check to be made again."""
        share = self.reach_share
        if share is None or step_s <= 0:
            return
        if margin == 1.0:
            self.reach_share = None
        fits = self.fits(deadline, step_s)
        if fits is not None and fits * margin < share * self.asked:
            raise FidelityOutOfReach(
                f"out of reach: {self.asked} steps take about {self.asked * step_s:.0f} s at "
                f"{step_s:.3g} s a step, and the time limit leaves room for {fits}; "
                f"stopped after {self.step}")

    def timed(self, deadline: Deadline, sync: Any) -> None:
        """Record the end of a step; check the reach and re-cap the steps on schedule. The
        first step pays for start-up, so the pace is measured from its end: after the
        second step, then every CAP_CHECK_STEPS."""
        timed = self.step - 1
        if timed == 0:
            self.first_done = time.monotonic()
            self.step_s = self.first_done - self.started  # a first, inflated estimate
            self.ends.append(self.first_done)
            return
        measure = timed == 1 or timed % CAP_CHECK_STEPS == 0
        reach = self.reach_share is not None and timed in (1, REACH_CHECK_STEPS)
        if measure or reach:
            sync()
        now = time.monotonic()
        self.ends.append(now)
        if reach:
            self.check_reach(deadline, (now - self.first_done) / timed,
                             REACH_EARLY_MARGIN if timed == 1 else 1.0)
        if measure:  # the mean so far, or the recent steps' when slower (a busy core)
            recent = (now - self.ends[0]) / (len(self.ends) - 1)
            self.step_s = max((now - self.first_done) / timed, recent)
            self.cap_steps(deadline)

    def cap_steps(self, deadline: Deadline) -> None:
        """Cap the steps at those the deadline fits, so the decay ends there; lift the cap
        when the steps asked fit again (a first estimate inflated by start-up)."""
        fits = self.fits(deadline, self.step_s)
        self.cap = fits if fits is not None and fits < self.asked else None

    def __post_init__(self) -> None:
        self.started = time.monotonic()


def lr_factor(step: int, total: int, schedule: str) -> float:
    """Linear warm-up over WARMUP_SHARE of ``total`` steps, then linear or cosine decay
    down to FINAL_LR_SHARE of the peak at the last step."""
    warm = max(1, math.ceil(WARMUP_SHARE * total))
    if step < warm:
        return (step + 1) / warm
    t = min(1.0, (step - warm + 1) / max(1, total - warm))
    shape = 1.0 - t if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * t))
    return FINAL_LR_SHARE + (1.0 - FINAL_LR_SHARE) * shape


def batch_stream(lengths: np.ndarray, batch: int, rng: np.random.Generator
                 ) -> Iterator[np.ndarray]:
    """Endless batches of row indices: each pass over the rows in a new order, rows of
    similar length batched together within buckets of BUCKET_BATCHES batches (less
    padding), a bucket's batches in random order."""
    n = len(lengths)
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch * BUCKET_BATCHES):
            bucket = order[start:start + batch * BUCKET_BATCHES]
            bucket = bucket[np.argsort(lengths[bucket], kind="stable")]
            chunks = np.array_split(bucket, max(1, len(bucket) // batch))
            for k in rng.permutation(len(chunks)):
                yield chunks[k]


def make_optimizer(net: Any, lr: float) -> Any:
    """AdamW; biases and norms undecayed; fused on CUDA."""
    import torch

    decay = [p for p in net.parameters() if p.ndim > 1]
    plain = [p for p in net.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY},
              {"params": plain, "weight_decay": 0.0}]
    fused = next(net.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=lr, **({"fused": True} if fused else {}))


def train_step(job: Job, optimizer: Any, rows: np.ndarray, targets: Any) -> Any:
    """One optimizer step on ``rows``; returns the loss (on the device)."""
    import torch
    import torch.nn.functional as F

    batch = job.encode(rows)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=job.device.type == "cuda"):
        out = job.net(**batch)
    picked = targets[torch.from_numpy(rows).to(targets.device)]
    out = out.float()
    loss = F.cross_entropy(out, picked) if job.classify else F.mse_loss(out[:, 0], picked)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(job.net.parameters(), GRAD_CLIP)
    optimizer.step()
    return loss.detach()


def run_steps(job: Job, pace: Pace, deadline: Deadline) -> dict[str, Any]:
    """Steps until those asked are done, the deadline or its cap stops them, or the loss is
    no longer finite; what happened, for the info."""
    import torch

    cuda = job.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    targets = torch.from_numpy(job.y).to(job.device)
    optimizer = make_optimizer(job.net, float(job.config["lr"]))
    batches = batch_stream(np.array([len(t) for t in job.tokens]), pace.batch, job.rng)
    job.net.train()
    pending: list[Any] = []
    losses: list[float] = []
    factor, diverged = 0.0, False
    while pace.step < pace.asked and not pace.must_stop(deadline):
        factor = lr_factor(pace.step, pace.planned(), str(job.config["schedule"]))
        for group in optimizer.param_groups:
            group["lr"] = float(job.config["lr"]) * factor
        pending.append(train_step(job, optimizer, next(batches), targets))
        pace.step += 1
        pace.timed(deadline, sync)
        if len(pending) == LOSS_CHECK_STEPS:
            losses.append(float(torch.stack(pending).mean().item()))
            pending.clear()
            if not math.isfinite(losses[-1]):
                diverged = True
                break
    if pending:
        losses.append(float(torch.stack(pending).mean().item()))
    job.net.eval()
    return {"trained": pace.step, "deadline_hit": pace.step < pace.asked and not diverged,
            "diverged": diverged or not all(map(math.isfinite, losses)),
            "final_lr_share": round(factor, 4), "step_s": round(pace.step_s, 5),
            "device": job.device.type, "train_losses": [round(v, 5) for v in losses]}


@dataclass(frozen=True)
class StartPoint:
    """The weights a continuation started from and their validation loss."""

    loss: float
    state: dict[str, Any]


def fine_tune(job: Job, steps: int, ctx: FitContext, parent: Mapping[str, Any] | None,
              reach_share: float | None) -> dict[str, Any]:
    """Train ``steps`` more steps. A continuation scored on ``ctx.valid`` never ends worse
    than it began: the weights it started from come back when the restart (a fresh warm-up
    at the peak learning rate, cut short) left the validation loss higher."""
    valid = ctx.valid if ctx.valid is not None and len(ctx.valid[1]) else None
    start = None
    if parent is not None and valid is not None:
        start = StartPoint(valid_loss(job, valid),
                           {k: v.detach().clone() for k, v in job.net.state_dict().items()})
    after = len(valid[1]) * (2 if start is not None else 1) if valid is not None else 0
    pace = Pace(steps, job.batch_size(), reach_share, after_rows=after)
    info = run_steps(job, pace, ctx.deadline)
    if start is not None and valid is not None:
        info["valid_loss"] = valid_loss(job, valid)
        if not info["valid_loss"] <= start.loss:  # NaN included
            job.net.load_state_dict(start.state)
            info.update(valid_loss=start.loss, kept_start_weights=True, trained=0)
    return info


def valid_loss(job: Job, valid: tuple[Features, np.ndarray]) -> float:
    """Log loss (classes) or mean squared error (standardized values) on ``valid``."""
    outputs = predict_outputs(job.net, texts_of(valid[0]), int(job.config["max_length"]))
    if job.classify:
        proba = softmax(outputs)
        picked = proba[np.arange(len(valid[1])), np.asarray(valid[1], dtype=np.int64)]
        return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))
    values = (np.asarray(valid[1], dtype=np.float64) - job.scale["target_mean"]) / job.scale[
        "target_std"]
    return float(np.mean((outputs[:, 0] - values) ** 2))


# --- prediction -------------------------------------------------------------------------


def predict_outputs(net: Any, texts: Sequence[str], max_length: int) -> np.ndarray:
    """The head's outputs (rows x outputs, float64), in inference mode on the network's
    device. Texts are batched by their exact token count, so no batch is padded: a text's
    outputs are the same alone as among others."""
    import torch

    device = next(net.parameters()).device
    width = int(net.head.out_features)
    out = np.zeros((len(texts), width), dtype=np.float64)
    if not len(texts):
        return out
    ids = tokenizer()(list(texts), truncation=True, max_length=max_length)["input_ids"]
    lengths = np.array([len(i) for i in ids])
    net.eval()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16,
                                                 enabled=device.type == "cuda"):
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            for start in range(0, len(rows), PREDICT_BATCH):
                chunk = rows[start:start + PREDICT_BATCH]
                tokens = torch.tensor([ids[i] for i in chunk], dtype=torch.long, device=device)
                result = net(input_ids=tokens, attention_mask=torch.ones_like(tokens))
                out[chunk] = result.float().cpu().numpy()
    return out


def softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)

"""One fast training loop for every image candidate, with data and augmentation on the device.

No DataLoader workers: the (resized) training images live in one tensor on the device and each
batch is indexed, normalized and augmented there, so a small CNN trial is bound by the GPU (or
the CPU threads it was given), not by Python. The schedule (warm-up then cosine) is planned over
``epochs``, re-planned after each epoch to end where the deadline allows, and within an epoch
capped at the steps the measured step time still fits, so a cut trial (a slow network, or a
promotion given what was left of the search) still finishes its annealing instead of stopping
at a high learning rate.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from accelml.core.budget import Deadline
from accelml.core.learner import FidelityOutOfReach

BASE_LR = {"sgd": 0.1, "adamw": 2e-3}
#: AdamW's decoupled decay is multiplied by its lr: this keeps per-step decay equal to SGD's.
ADAMW_DECAY_FACTOR = BASE_LR["sgd"] / BASE_LR["adamw"]
WARMUP_SHARE = 0.1
FINAL_LR_SHARE = 0.01
GRAD_CLIP = 5.0
#: Loss is checked for NaN every this many steps (a device sync on GPU).
FINITE_CHECK_STEPS = 25
#: The step cap is re-planned every this many steps, at the pace of the last
#: FINITE_CHECK_STEPS steps (or the epoch's mean when higher).
CAP_CHECK_STEPS = 5
#: Classes are weighted only when the largest is this many times the smallest.
IMBALANCE_RATIO = 3.0
CHUNK = 1024
#: Re-planning: epoch timings considered, a safety margin on them, and the epochs during
#: which a plan cut short by the first epoch's start-up may grow back.
REPLAN_WINDOW = 3
REPLAN_SAFETY = 1.05
REGROW_EPOCHS = 2
#: Predicting an image costs about this share of a training step's time per image (forward
#: only, no augmentation; generous, forward is nearer a third), and validation images are
#: predicted twice: the learner's own accuracy check and the caller's scoring.
FORWARD_SHARE = 0.5
VALID_PASSES = 2
#: torch.compile costs tens of seconds up front; on CUDA it pays for trainings of at least
#: this many steps with at least this much time left (the long final training, not short looks).
COMPILE_MIN_STEPS = 3000
COMPILE_MIN_SECONDS = 180.0
#: A training asked to reach its epochs measures its pace over this many steps after the
#: first (which pays for start-up) and gives up when the deadline fits fewer than its share.
REACH_CHECK_STEPS = 5
#: One timed step already settles a clear miss: a training whose deadline fits under
#: 1 / REACH_EARLY_MARGIN of its reach share stops after its second step (a wide network on
#: two CPU cores takes 3 to 4 s a step, so waiting for the fifth cost 10 to 15 s a trial).
REACH_EARLY_MARGIN = 2.0


def pick_device(device: str | None = None) -> torch.device:
    """The requested device, else CUDA when present, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Rows of weights mapping ``in_size`` pixels to ``out_size``: bilinear, antialiased down.

    A fixed matrix (rather than an interpolate call) is exactly the same computation in
    training, prediction and the exported ONNX graph (two MatMuls).
    """
    scale = in_size / out_size
    support = max(scale, 1.0)
    centers = (np.arange(out_size) + 0.5) * scale - 0.5
    distance = np.abs(np.arange(in_size)[None, :] - centers[:, None]) / support
    weights = np.clip(1.0 - distance, 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def target_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """Output (H, W) with the shorter side at ``resolution``, keeping the aspect ratio."""
    short = min(height, width)
    return max(1, round(height * resolution / short)), max(1, round(width * resolution / short))


class Preprocess(nn.Module):
    """uint8 NHWC pixels -> normalized float NCHW at the training resolution and channels."""

    def __init__(self, in_shape: Sequence[int], resolution: int, channels: int,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None):
        super().__init__()
        height, width, self.in_channels = (int(v) for v in in_shape)
        self.channels = int(channels)
        out_h, out_w = target_size(height, width, int(resolution))
        self.resized = (out_h, out_w) != (height, width)
        self.register_buffer("rh", torch.from_numpy(resize_matrix(height, out_h)))
        self.register_buffer("rw", torch.from_numpy(resize_matrix(width, out_w).T.copy()))
        shape = (1, self.channels, 1, 1)
        self.register_buffer("mean", torch.tensor(mean or [0.5] * channels).view(shape))
        self.register_buffer("std", torch.tensor(std or [0.25] * channels).view(shape))

    @property
    def changes_pixels(self) -> bool:
        """True when stored pixels are not the raw uint8 ones (resized or channels changed)."""
        return self.resized or self.in_channels != self.channels

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Resized, channel-matched float pixels in 0..255, NCHW."""
        x = x.permute(0, 3, 1, 2).float()
        if self.resized:
            x = torch.matmul(torch.matmul(self.rh, x), self.rw)
        if self.in_channels == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif self.in_channels == 3 and self.channels == 1:
            x = x.mean(dim=1, keepdim=True)
        return x

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """0..255 pixels to the standardized input the network trained on."""
        return (pixels.float() / 255.0 - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.pixels(x))


def store_images(pre: Preprocess, images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Training images on the device, resized once: uint8 when untouched, else float16."""
    if not pre.changes_pixels:
        host = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        return _to_device(host, device)
    pre = pre.to(device)
    chunks = [pre.pixels(_to_device(torch.from_numpy(np.ascontiguousarray(images[i:i + CHUNK])),
                                    device)).half() for i in range(0, len(images), CHUNK)]
    return torch.cat(chunks)


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def channel_stats(stored: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the stored pixels on the 0..1 scale (float64 sums)."""
    total = torch.zeros(stored.shape[1], dtype=torch.float64, device=stored.device)
    squares = torch.zeros_like(total)
    for i in range(0, len(stored), CHUNK):
        chunk = stored[i:i + CHUNK].double() / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        squares += (chunk * chunk).sum(dim=(0, 2, 3))
    count = stored.shape[0] * stored.shape[2] * stored.shape[3]
    mean = total / count
    std = torch.sqrt(torch.clamp(squares / count - mean * mean, min=1e-6))
    return mean.tolist(), std.tolist()


def augment(x: torch.Tensor, config: Mapping[str, Any], gen: torch.Generator) -> torch.Tensor:
    """Random crop with padding, horizontal flip, cutout; sizes scale with aug_strength."""
    n, _, height, width = x.shape
    strength = float(config.get("aug_strength", 0.0))
    pad = round(strength * min(height, width) / 8)
    dev = x.device
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=gen, device=dev)
        dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=gen, device=dev)
        rows = (dy + torch.arange(height, device=dev))[:, None, :, None]
        cols = (dx + torch.arange(width, device=dev))[:, None, None, :]
        x = padded[torch.arange(n, device=dev)[:, None, None, None],
                   torch.arange(x.shape[1], device=dev)[None, :, None, None], rows, cols]
    if config.get("flip"):
        flip = torch.rand(n, generator=gen, device=dev) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    hole = round(strength * min(height, width) / 2)
    if hole > 1:
        cy = torch.randint(0, height, (n, 1, 1), generator=gen, device=dev)
        cx = torch.randint(0, width, (n, 1, 1), generator=gen, device=dev)
        r = torch.arange(height, device=dev)[None, :, None]
        c = torch.arange(width, device=dev)[None, None, :]
        mask = ((r - cy).abs() <= hole // 2) & ((c - cx).abs() <= hole // 2)
        x = x.masked_fill(mask[:, None], 0.0)
    return x


def lr_factor(progress: float) -> float:
    """Linear warm-up over the first 10 %, then cosine down to 1 % of the peak."""
    if progress < WARMUP_SHARE:
        return 0.1 + 0.9 * progress / WARMUP_SHARE
    t = min(1.0, (progress - WARMUP_SHARE) / (1.0 - WARMUP_SHARE))
    return FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(net: nn.Module, config: Mapping[str, Any],
                   head: nn.Module | None = None) -> torch.optim.Optimizer:
    """SGD (nesterov) or AdamW; no decay on norms and biases; ``head`` params get group 0.

    Groups carry ``base_lr`` and ``role`` ("head" or "backbone") for the schedule.
    """
    name = config.get("optimizer", "sgd")
    peak = BASE_LR[name] * float(config.get("lr_scale", 1.0))
    decay = float(config.get("weight_decay", 5e-4))
    decay = decay * ADAMW_DECAY_FACTOR if name == "adamw" else decay
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    mult = float(config.get("backbone_lr_mult", 1.0))
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for p in net.parameters():
        role = "head" if id(p) in head_ids or head is None else "backbone"
        groups.setdefault((role, p.ndim > 1), []).append(p)
    params = [{"params": ps, "weight_decay": decay if decays else 0.0, "role": role,
               "base_lr": peak * (mult if role == "backbone" else 1.0)}
              for (role, decays), ps in groups.items()]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=peak)
    return torch.optim.SGD(params, lr=peak, momentum=0.9, nesterov=True)


@dataclass
class Plan:
    """Where training stands: epochs planned (shrinks to fit the deadline), steps, timings."""

    epochs: int
    steps_per_epoch: int
    freeze_epochs: int = 0
    done: int = 0
    step: int = 0
    deadline_hit: bool = False
    diverged: bool = False
    epoch_s: list[float] = field(default_factory=list)
    #: Work left after training (predicting the validation images), in training steps, and
    #: the measured seconds of a training step: together, the time kept back from training.
    after_steps: float = 0.0
    step_s: float = 0.0
    #: The last step the deadline leaves room for, when it falls before the planned epochs'
    #: end (set from the measured step time inside an epoch; None when the epochs fit).
    step_cap: int | None = None
    #: The share of the planned steps the deadline must leave room for (None: no such need);
    #: looked at after the first timed step (a clear miss) and checked after a few.
    reach_share: float | None = None

    def reserve_s(self) -> float:
        """Seconds to keep before the deadline for the predictions after training."""
        return self.after_steps * self.step_s

    def total_steps(self) -> int:
        """Steps the schedule anneals over: the planned epochs', or fewer when capped."""
        planned = max(1, self.epochs * self.steps_per_epoch)
        return planned if self.step_cap is None else max(1, min(planned, self.step_cap))

    def cap_steps(self, deadline: Deadline) -> None:
        """Cap the steps at those the deadline still fits at the measured step time (after
        the reserve for predictions), so the cosine reaches its end by then; lift the cap
        when the planned epochs fit again (a first estimate inflated by start-up)."""
        remaining = deadline.remaining() - self.reserve_s()
        if math.isinf(remaining) or self.step_s <= 0:
            return
        fits = self.step + int(max(0.0, remaining) / (self.step_s * REPLAN_SAFETY))
        planned = self.epochs * self.steps_per_epoch
        self.step_cap = fits if fits < planned else None
        if self.step_cap is not None:
            self.deadline_hit = True

    def capped(self) -> bool:
        """True when the steps the deadline allows are done."""
        return self.step_cap is not None and self.step >= self.step_cap

    def set_lr(self, optimizer: torch.optim.Optimizer) -> None:
        """Learning rates for the current step; a frozen backbone gets zero."""
        factor = lr_factor(self.step / self.total_steps())
        self.last_lr_factor = factor
        for group in optimizer.param_groups:
            frozen = group["role"] == "backbone" and self.done < self.freeze_epochs
            group["lr"] = 0.0 if frozen else group["base_lr"] * factor

    def __post_init__(self) -> None:
        self.requested = self.epochs
        self.last_lr_factor = 0.0

    def check_reach(self, deadline: Deadline, step_s: float, margin: float = 1.0) -> None:
        """Raise FidelityOutOfReach when, at ``step_s`` seconds a step, the deadline leaves
        room for fewer than ``reach_share`` of the planned steps (predictions kept back).
        A ``margin`` above 1 (an early look) raises only on a miss by that factor and leaves
        the check to be made again; the plain check is made once."""
        share = self.reach_share
        if share is None or step_s <= 0:  # a no-op when not asked
            return
        if margin == 1.0:
            self.reach_share = None
        remaining = deadline.remaining() - self.after_steps * step_s
        if math.isinf(remaining):
            return
        planned = self.epochs * self.steps_per_epoch
        fits = self.step + int(max(0.0, remaining) / (step_s * REPLAN_SAFETY))
        if fits * margin < share * planned:
            raise FidelityOutOfReach(
                f"out of reach: {self.epochs} epochs take about "
                f"{planned * step_s:.0f} s at {step_s:.3g} s a step, and the time limit "
                f"leaves room for {fits} of the {planned} steps; stopped after {self.step}")

    def epoch_cost(self) -> float:
        """Seconds an epoch takes: the slowest of the last few, the first left out once
        there are others (it also pays for start-up, which on tiny images is most of it)."""
        steady = self.epoch_s[1:] or self.epoch_s
        return max(steady[-REPLAN_WINDOW:]) * REPLAN_SAFETY

    def replan(self, deadline: Deadline) -> None:
        """Shrink the plan so the remaining epochs end before the deadline; in the first
        epochs, when the first one's start-up made the plan too short, grow it back (never
        past the epochs asked for)."""
        remaining = deadline.remaining() - self.reserve_s()
        if math.isinf(remaining):
            return
        fits = self.done + int(max(0.0, remaining) / self.epoch_cost())
        if fits < self.epochs:
            self.epochs, self.deadline_hit = max(self.done, fits), True
        elif self.done <= REGROW_EPOCHS and fits > self.epochs:
            self.epochs = min(self.requested, fits)
            self.deadline_hit = self.epochs < self.requested


def class_weights(y: np.ndarray, n_classes: int, device: torch.device) -> torch.Tensor | None:
    """Square-root inverse-frequency weights when classes are clearly imbalanced, else None."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)
    if counts.max() < IMBALANCE_RATIO * counts.min():
        return None
    weights = np.sqrt(counts.mean() / counts)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32, device=device)


@dataclass
class Batchwise:
    """What one training step needs besides the batch itself."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    pre: Preprocess
    config: Mapping[str, Any]
    gen: torch.Generator
    rng: np.random.Generator
    weights: torch.Tensor | None
    autocast: bool


def train_step(ctx: Batchwise, pixels: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Normalize, augment, optionally mix up, one optimizer step; returns the loss."""
    x = augment(ctx.pre.normalize(pixels), ctx.config, ctx.gen)
    if x.is_cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    alpha = float(ctx.config.get("mixup", 0.0))
    lam, partner = 1.0, None
    if alpha >= 0.05:
        lam = float(ctx.rng.beta(alpha, alpha))
        partner = torch.randperm(len(x), generator=ctx.gen, device=x.device)
        x = lam * x + (1 - lam) * x[partner]
    smoothing = float(ctx.config.get("label_smoothing", 0.0))
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=ctx.autocast):
        logits = ctx.net(x).float()
    loss = F.cross_entropy(logits, y, weight=ctx.weights, label_smoothing=smoothing)
    if partner is not None:
        loss = lam * loss + (1 - lam) * F.cross_entropy(
            logits, y[partner], weight=ctx.weights, label_smoothing=smoothing)
    ctx.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(ctx.net.parameters(), GRAD_CLIP)
    ctx.optimizer.step()
    return loss.detach()


def _step_seconds(began: float, ends: deque[float], steps: int) -> float:
    """The mean step of this epoch so far, or of its last steps when they were slower
    (another job took a core): the cap must hold at the pace the steps go now."""
    mean = (ends[-1] - began) / steps
    recent = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else 0.0
    return max(mean, recent)


def run_epoch(ctx: Batchwise, stored: torch.Tensor, y: torch.Tensor, plan: Plan,
              deadline: Deadline) -> bool:
    """One pass over shuffled near-equal batches; False when the deadline or NaN stopped it."""
    batch = min(int(ctx.config.get("batch_size", 128)), len(stored))
    order = torch.from_numpy(ctx.rng.permutation(len(stored))).to(stored.device)
    began = first_done = time.monotonic()
    ends: deque[float] = deque(maxlen=FINITE_CHECK_STEPS + 1)  # the last steps' end times
    for i, idx in enumerate(torch.tensor_split(order, max(1, len(stored) // batch))):
        if plan.capped() or deadline.remaining() <= plan.reserve_s():
            plan.deadline_hit = True  # (expired, only time to predict, or annealed to the cap)
            plan.check_reach(deadline, plan.step_s)  # stopped before its pace was checked
            return False
        plan.set_lr(ctx.optimizer)
        loss = train_step(ctx, stored[idx], y[idx])
        plan.step += 1
        if i == 0:
            first_done = time.monotonic()
        elif i in (1, REACH_CHECK_STEPS) and plan.reach_share is not None:
            if stored.is_cuda:
                torch.cuda.synchronize()
            plan.check_reach(deadline, (time.monotonic() - first_done) / i,
                             margin=REACH_EARLY_MARGIN if i == 1 else 1.0)
        ends.append(time.monotonic())
        if i == 0 or (i + 1) % CAP_CHECK_STEPS == 0:
            plan.step_s = _step_seconds(began, ends, i + 1)
        if (i + 1) % CAP_CHECK_STEPS == 0:
            plan.cap_steps(deadline)
        if (i + 1) % FINITE_CHECK_STEPS == 0 and not torch.isfinite(loss).item():
            plan.diverged = True
            return False
    return True


def _seeded(seed: int, device: torch.device) -> tuple[torch.Generator, np.random.Generator]:
    torch.manual_seed(seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen, np.random.default_rng(seed)


def train_network(
    net: nn.Module,
    images: np.ndarray,
    y: np.ndarray,
    config: Mapping[str, Any],
    *,
    epochs: int,
    deadline: Deadline,
    n_jobs: int,
    seed: int,
    device: str | None = None,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    head: nn.Module | None = None,
    reach_share: float | None = None,
) -> dict[str, Any]:
    """Train ``net`` in place on uint8 NHWC ``images``; returns the facts to keep in info.

    ``config`` must hold ``resolution``; ``head`` (transfer learning) marks the parameters
    that train at the full rate while the rest use ``backbone_lr_mult`` and stay frozen for
    ``freeze_epochs``. ``valid`` (images, labels) adds a final accuracy and log loss to the
    info, and training stops early enough to predict those images (twice) before the deadline.
    With ``reach_share``, it raises FidelityOutOfReach after its first few steps when the
    deadline leaves room for less than that share of the ``epochs``.
    """
    started = time.monotonic()
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, n_jobs))
    gen, rng = _seeded(seed, dev)
    channels = net_channels(net)
    pre = Preprocess(images.shape[1:], config["resolution"], channels).to(dev)
    stored = store_images(pre, images, dev)
    mean, std = channel_stats(stored)
    pre = Preprocess(images.shape[1:], config["resolution"], channels, mean, std).to(dev)
    n_classes = n_outputs(net)
    net.to(dev)
    if dev.type == "cuda":
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    batch = min(int(config.get("batch_size", 128)), len(images))
    plan = Plan(int(epochs), max(1, len(images) // batch), int(config.get("freeze_epochs", 0)),
                reach_share=reach_share)
    if valid is not None:
        plan.after_steps = VALID_PASSES * len(valid[0]) / batch * FORWARD_SHARE
    compiled = should_compile(dev, plan.epochs * plan.steps_per_epoch, deadline.remaining())
    ctx = Batchwise(compile_for_training(net) if compiled else net,
                    make_optimizer(net, config, head), pre, config, gen, rng,
                    class_weights(y, n_classes, dev), dev.type == "cuda")
    _train_epochs(ctx, stored, torch.from_numpy(y.astype(np.int64)).to(dev), plan, deadline)
    net.eval()
    info = {"device": dev.type, "epochs": max(1, plan.done), "epochs_done": plan.done,
            "deadline_hit": plan.deadline_hit, "diverged": plan.diverged, "mean": mean,
            "std": std, "resolution": int(config["resolution"]), "channels": channels,
            "input_shape": [int(v) for v in images.shape[1:]], "steps": plan.step,
            "images_seen": int(plan.step * batch), "compiled": compiled,
            "epoch_s": [round(s, 4) for s in plan.epoch_s],
            "final_lr_share": round(plan.last_lr_factor, 4)}
    if valid is not None and len(valid[0]):
        proba = predict_proba(net, valid[0], info, device=dev.type)
        info["valid_accuracy"] = float(np.mean(proba.argmax(axis=1) == valid[1]))
        info["valid_log_loss"] = log_loss_of(proba, valid[1])
    info["device_s"] = round(time.monotonic() - started, 4)
    return info


def log_loss_of(proba: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels`` (indices into the columns of ``proba``)."""
    picked = proba[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def should_compile(device: torch.device, steps: int, seconds_left: float) -> bool:
    """True when torch.compile is likely to pay: CUDA, a long training, time to amortize it."""
    return (device.type == "cuda" and hasattr(torch, "compile") and steps >= COMPILE_MIN_STEPS
            and seconds_left >= COMPILE_MIN_SECONDS)


def compile_for_training(net: nn.Module) -> nn.Module:
    """``net`` compiled for the training steps (it shares the parameters); a graph torch
    cannot compile runs eagerly instead of failing the trial."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    return torch.compile(net)  # type: ignore[return-value]


def _train_epochs(ctx: Batchwise, stored: torch.Tensor, y: torch.Tensor, plan: Plan,
                  deadline: Deadline) -> None:
    """Epochs until the (re-planned) end, the deadline, or divergence."""
    ctx.net.train()
    while plan.done < plan.epochs:
        began = time.monotonic()
        if not run_epoch(ctx, stored, y, plan, deadline):
            return
        if stored.is_cuda:
            torch.cuda.synchronize()
        plan.done += 1
        plan.epoch_s.append(time.monotonic() - began)
        plan.check_reach(deadline, plan.epoch_s[-1] / plan.steps_per_epoch)  # a short epoch
        plan.replan(deadline)


def n_outputs(net: nn.Module) -> int:
    """Classes the net predicts (``num_classes``, as timm models and ImageNet name it)."""
    return int(net.num_classes)  # type: ignore[arg-type]


def net_channels(net: nn.Module) -> int:
    """Input channels of the first convolution."""
    first = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    return int(first.in_channels)


@torch.no_grad()
def predict_proba(net: nn.Module, images: np.ndarray, info: Mapping[str, Any],
                  device: str | None = None, batch_size: int = 512) -> np.ndarray:
    """Softmax probabilities (float64) for uint8 NHWC images, preprocessed as in training.

    ``info`` is what :func:`train_network` returned. Rows a broken (diverged) net makes
    non-finite become uniform, so a bad trial scores badly instead of crashing the engine.
    """
    dev = pick_device(device)
    pre = preprocess_from(info).to(dev)
    net.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).to(dev)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = net(pre(x)).float()
        out.append(torch.softmax(logits, dim=1).double().cpu().numpy())
    proba = np.concatenate(out) if out else np.zeros((0, n_outputs(net)))
    bad = ~np.isfinite(proba).all(axis=1)
    proba[bad] = 1.0 / proba.shape[1]
    return proba


def preprocess_from(info: Mapping[str, Any]) -> Preprocess:
    """The exact preprocessing a trained net expects, rebuilt from its info."""
    return Preprocess(info["input_shape"], info["resolution"], info["channels"], info["mean"],
                      info["std"])

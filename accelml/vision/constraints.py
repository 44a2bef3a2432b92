"""Deployment constraints on a candidate network: parameter count and single-image latency.

Checked right after the network is built, before any training, so a network that cannot be
deployed costs a fraction of a second and becomes a failed trial with the reason, and the
search returns the best network that fits the target.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from accelml.errors import ConfigError
from accelml.vision.network import count_params
from accelml.vision.train import pick_device

#: Constraint keys the run adds to every image config (never searched).
CONSTRAINT_KEYS = ("max_params", "max_latency_ms")
LATENCY_WARMUP = 3
LATENCY_REPEATS = 15


def split_constraints(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the config without the constraint keys, the constraints that are set)."""
    rest = {k: v for k, v in config.items() if k not in CONSTRAINT_KEYS}
    limits = {k: config[k] for k in CONSTRAINT_KEYS if config.get(k) is not None}
    return rest, limits


@torch.inference_mode()
def latency_ms(net: nn.Module, in_channels: int, resolution: int,
               device: torch.device | None = None) -> float:
    """Median milliseconds of one forward pass of a single image (eval mode, batch 1)."""
    device = device or next(net.parameters()).device
    was_training = net.training
    net.eval()
    x = torch.randn(1, in_channels, resolution, resolution, device=device)
    times = []
    for i in range(LATENCY_WARMUP + LATENCY_REPEATS):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        net(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= LATENCY_WARMUP:
            times.append((time.perf_counter() - started) * 1000.0)
    net.train(was_training)
    return float(statistics.median(times))


def check_constraints(net: nn.Module, in_channels: int, resolution: int,
                      limits: Mapping[str, Any], n_jobs: int) -> dict[str, Any]:
    """The facts measured for ``limits`` (params, latency_ms); a ConfigError names the limit a
    network breaks, which the search records as this trial's failure.

    Latency is measured where the network will train and predict (the best device; on the
    CPU with the trial's ``n_jobs`` threads)."""
    facts: dict[str, Any] = {}
    if "max_params" in limits:
        params = count_params(net)
        facts["params"] = params
        if params > int(limits["max_params"]):
            raise ConfigError(f"this network has {params} parameters, more than --max-params "
                              f"{limits['max_params']}")
    if "max_latency_ms" in limits:
        device = pick_device()
        if device.type == "cpu":
            torch.set_num_threads(max(1, n_jobs))
        measured = latency_ms(net.to(device), in_channels, resolution, device)
        facts["latency_ms"] = round(measured, 4)
        if measured > float(limits["max_latency_ms"]):
            raise ConfigError(f"this network predicts one image in {measured:.2f} ms, slower "
                              f"than --max-latency-ms {limits['max_latency_ms']:g}")
    return facts

"""Zero-cost proxy: NASWOT (Mellor et al., 2021), a score of an untrained network from one batch.

An untrained network that maps different images to different activation patterns tends to
train well; one whose units are dead or saturated maps them alike and rarely does. The score is
``log |det K|`` with ``K[i, j]`` the share of rectifier units on which images i and j agree
(on or off). Normalizing by the number of units keeps wide networks from scoring higher
merely for having more units, so the proxy judges the pattern, not the size. It takes one
forward pass (a fraction of a second on the CPU), so the search can drop hopeless candidates
before it spends any training on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from accelml.vision.network import build_network
from accelml.vision.train import Preprocess, channel_stats, store_images

PROXY_BATCH = 32
RECTIFIERS = (nn.ReLU, nn.SiLU, nn.GELU)


@torch.no_grad()
def naswot_score(net: nn.Module, x: torch.Tensor) -> float:
    """NASWOT score of ``net`` on the float NCHW batch ``x`` (higher is better)."""
    codes: list[torch.Tensor] = []

    def keep(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: Any) -> None:
        codes.append((inputs[0] > 0).flatten(1).float())

    hooks = [m.register_forward_hook(keep) for m in net.modules()
             if isinstance(m, RECTIFIERS)]
    try:
        net.train()  # batch statistics, as at the start of training
        net(x)
    finally:
        for hook in hooks:
            hook.remove()
    if not codes:
        return 0.0
    c = torch.cat(codes, dim=1).double()
    agree = (c @ c.T + (1 - c) @ (1 - c).T) / c.shape[1]
    sign, logdet = torch.linalg.slogdet(agree)
    return float(logdet) if sign > 0 else -np.inf


class NaswotScreen:
    """Scores a config of the image space on a fixed batch of training images.

    Built once per run in the driver; each call builds the network at the config's resolution
    and scores it (the same batch and initial weights for every candidate, so scores compare).
    """

    def __init__(self, images: np.ndarray, n_classes: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        take = rng.choice(len(images), size=min(PROXY_BATCH, len(images)), replace=False)
        self._images = np.ascontiguousarray(images[np.sort(take)])
        self._n_classes = n_classes
        self._seed = seed
        self._batches: dict[tuple[int, int], torch.Tensor] = {}

    def _batch(self, resolution: int, channels: int) -> torch.Tensor:
        key = (resolution, channels)
        if key not in self._batches:
            shape = self._images.shape[1:]
            pre = Preprocess(shape, resolution, channels)
            stored = store_images(pre, self._images, torch.device("cpu"))
            mean, std = channel_stats(stored)
            pre = Preprocess(shape, resolution, channels, mean, std)
            self._batches[key] = pre.normalize(stored.float())
        return self._batches[key]

    def __call__(self, config: Mapping[str, Any]) -> float:
        """The NASWOT score of the network ``config`` describes (higher is better)."""
        from accelml.vision.learners.cnn import CNN

        channels = int(self._images.shape[3])
        full = CNN().resolve(dict(config), self._images.shape[1:])  # type: ignore[arg-type]
        torch.manual_seed(self._seed)
        net = build_network(full, channels, self._n_classes)
        return naswot_score(net, self._batch(int(full["resolution"]), channels))

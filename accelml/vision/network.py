"""Build a CNN from a flat config of :mod:`accelml.vision.space`: stem, stages, pooled head.

The network takes float NCHW images already resized and normalized. Downsampling between
stages stops once the feature map is smaller than 4 pixels, so every config of the space
builds on every image size (even 8x8 digits with four stages).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

#: Feature maps below this side are not downsampled further.
MIN_DOWNSAMPLE_SIDE = 4
BOTTLENECK_EXPANSION = 3


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)
    return nn.Identity()


def _act(kind: str) -> nn.Module:
    return {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}[kind]()


def _conv(c_in: int, c_out: int, kernel: int, stride: int, norm: str,
          groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups,
                     bias=norm == "none")


class SqueezeExcite(nn.Module):
    """Channel gating from pooled features: cheap, and often worth a point of accuracy."""

    def __init__(self, channels: int, act: str) -> None:
        super().__init__()
        hidden = max(8, channels // 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1),
                                  _act(act), nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Residual(nn.Module):
    """``act(shortcut(x) + gain * branch(x))``; the branch starts as zero so deep nets train.

    With a norm layer its last scale is zero-initialised; without one a scalar gain is.
    """

    def __init__(self, branch: nn.Sequential, shortcut: nn.Module, act: str, norm: str) -> None:
        super().__init__()
        self.branch, self.shortcut, self.act = branch, shortcut, _act(act)
        self.gain = nn.Parameter(torch.zeros(1)) if norm == "none" else None
        last_norm = [m for m in branch if isinstance(m, nn.BatchNorm2d | nn.GroupNorm)]
        if last_norm:
            nn.init.zeros_(last_norm[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.gain is not None:
            out = out * self.gain
        return self.act(self.shortcut(x) + out)


def _shortcut(c_in: int, c_out: int, stride: int, norm: str) -> nn.Module:
    if c_in == c_out and stride == 1:
        return nn.Identity()
    layers: list[nn.Module] = [nn.AvgPool2d(2, ceil_mode=True)] if stride > 1 else []
    layers += [_conv(c_in, c_out, 1, 1, norm), _norm(norm, c_out)]
    return nn.Sequential(*layers)


def make_block(c_in: int, c_out: int, stride: int, config: Mapping[str, Any]) -> nn.Module:
    """One block of kind ``config["block"]``: plain conv, residual pair, inverted bottleneck."""
    k, norm, act, block = config["kernel"], config["norm"], config["activation"], config["block"]
    se = [SqueezeExcite(c_out, act)] if config["se"] else []
    if block == "plain":
        return nn.Sequential(_conv(c_in, c_out, k, stride, norm), _norm(norm, c_out), _act(act),
                             *se)
    if block == "residual":
        branch = nn.Sequential(_conv(c_in, c_out, k, stride, norm), _norm(norm, c_out),
                               _act(act), _conv(c_out, c_out, k, 1, norm), *se,
                               _norm(norm, c_out))
    else:  # inverted bottleneck (MobileNetV2): expand, depthwise, project
        mid = c_in * BOTTLENECK_EXPANSION
        branch = nn.Sequential(_conv(c_in, mid, 1, 1, norm), _norm(norm, mid), _act(act),
                               _conv(mid, mid, k, stride, norm, groups=mid), _norm(norm, mid),
                               _act(act), _conv(mid, c_out, 1, 1, norm), *se,
                               _norm(norm, c_out))
    return Residual(branch, _shortcut(c_in, c_out, stride, norm), act, norm)


def _stem(config: Mapping[str, Any], in_channels: int) -> tuple[nn.Module, int]:
    """The stem and its stride."""
    width, norm, act = config["width_0"], config["norm"], config["activation"]
    kernel, stride = {"conv3": (3, 1), "conv3x2": (3, 2), "patch2": (2, 2)}[config["stem"]]
    conv = nn.Conv2d(in_channels, width, kernel, stride, 1 if kernel == 3 else 0,
                     bias=norm == "none")
    return nn.Sequential(conv, _norm(norm, width), _act(act)), stride


def _stages(config: Mapping[str, Any], side: int) -> list[nn.Module]:
    """Stages of blocks; each after the first halves the map while it is >= 4 pixels."""
    layers: list[nn.Module] = []
    c_in = config["width_0"]
    for i in range(config["n_stages"]):
        c_out = config[f"width_{i}"]
        stride = 1
        if i > 0 and side >= MIN_DOWNSAMPLE_SIDE:
            side = (side + 1) // 2
            if config["downsample"] == "stride":
                stride = 2
            else:
                pool = nn.MaxPool2d if config["downsample"] == "maxpool" else nn.AvgPool2d
                layers.append(pool(2, ceil_mode=True))
        for _ in range(config[f"depth_{i}"]):
            layers.append(make_block(c_in, c_out, stride, config))
            c_in, stride = c_out, 1
    return layers


class ImageNet(nn.Module):
    """Stem -> stages -> global average pool -> dropout -> linear head."""

    def __init__(self, config: Mapping[str, Any], in_channels: int, n_classes: int) -> None:
        super().__init__()
        stem, stride = _stem(config, in_channels)
        side = int(config.get("resolution") or 32) // stride
        self.features = nn.Sequential(stem, *_stages(config, side))
        width = config[f"width_{config['n_stages'] - 1}"]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(float(config["dropout"]))
        self.head = nn.Linear(width, n_classes)
        self.n_features, self.num_classes = width, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


def build_network(config: Mapping[str, Any], in_channels: int, n_classes: int) -> ImageNet:
    """The network a config describes; keys of unused stages are ignored."""
    return ImageNet(config, in_channels, n_classes)


def count_params(module: nn.Module) -> int:
    """Trainable parameter count (for reports and for cost-aware search)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@torch.no_grad()
def count_macs(module: nn.Module, in_channels: int, resolution: int) -> int:
    """Multiply-accumulates of one forward pass on one square image (convolutions and linear
    layers, which dominate): a device-free measure of what a network costs to train."""
    total = 0

    def add(layer: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):
            per_output = layer.in_channels // layer.groups
            per_output *= layer.kernel_size[0] * layer.kernel_size[1]
            total += output.numel() * per_output
        elif isinstance(layer, nn.Linear):
            total += output.numel() * layer.in_features

    hooks = [m.register_forward_hook(add) for m in module.modules()
             if isinstance(m, nn.Conv2d | nn.Linear)]
    was_training = module.training
    try:
        module.eval()
        module(torch.zeros(1, in_channels, resolution, resolution))
    finally:
        module.train(was_training)
        for hook in hooks:
            hook.remove()
    return total

"""The network of the ``torch_mlp`` learner: its input encoding and its body, as one module.

The encoding lives in the module (as buffers), so a saved model, its ONNX export and its
served predictions all start from the same encoded feature matrix the other learners get:
NaN is filled with the column's median and flagged, numbers go through a piecewise-linear
quantile map onto a normal shape (robust to skew and outliers, and plain elementwise ops in
ONNX), and category codes index embeddings (one extra row for missing or unseen codes).
Imported only when the learner trains or loads, since it loads torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

#: Quantile levels of the numeric map; fewer distinct values share knots.
KNOTS = 32
#: The map's outputs at the lowest and highest levels are the normal quantiles of these.
TAIL = 0.001


def embedding_size(cardinality: int) -> int:
    """A common rule of thumb: grows slowly with the number of codes, at most 32."""
    return int(min(32, max(2, round(1.6 * cardinality ** 0.56))))


def quantile_knots(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, ``KNOTS`` increasing input knots and their outputs on a normal scale.

    Tied quantiles (a column with few distinct values) become one knot whose output is the
    mean of the tied levels' outputs, as scikit-learn's QuantileTransformer does; the spare
    knots repeat the last one and so add nothing.
    """
    levels = np.linspace(0.0, 1.0, KNOTS)
    targets = norm.ppf(np.clip(levels, TAIL, 1.0 - TAIL))
    knots = np.zeros((X.shape[1], KNOTS))
    outputs = np.zeros((X.shape[1], KNOTS))
    for column in range(X.shape[1]):
        values = X[:, column]
        values = values[~np.isnan(values)]
        quantiles = np.quantile(values, levels) if len(values) else np.zeros(KNOTS)
        unique, inverse = np.unique(quantiles, return_inverse=True)
        means = np.bincount(inverse, weights=targets) / np.bincount(inverse)
        knots[column] = np.concatenate([unique, np.full(KNOTS - len(unique), unique[-1])])
        outputs[column] = np.concatenate([means, np.full(KNOTS - len(unique), means[-1])])
    return knots, outputs


class TabularNet(nn.Module):
    """Encoded features -> ``layers`` x (Linear, BatchNorm, SiLU, Dropout) -> a linear head.

    ``forward`` takes the raw encoded matrix (float32, NaN for missing); training calls
    :meth:`encode` once on all rows and then :meth:`body_forward` per batch, since the
    numeric encoding has nothing to learn.
    """

    def __init__(self, n_columns: int, categorical: Sequence[int],
                 cardinalities: Sequence[int], missing: Sequence[int], layers: int,
                 width: int, dropout: float, n_out: int) -> None:
        super().__init__()
        numeric = [c for c in range(n_columns) if c not in set(categorical)]
        self.register_buffer("numeric", torch.tensor(numeric, dtype=torch.long))
        self.register_buffer("categorical", torch.tensor(list(categorical), dtype=torch.long))
        self.register_buffer("cardinalities", torch.tensor(list(cardinalities),
                                                           dtype=torch.float32))
        self.register_buffer("missing", torch.tensor(list(missing), dtype=torch.long))
        self.register_buffer("fill", torch.zeros(len(numeric)))
        self.register_buffer("knots", torch.zeros(len(numeric), KNOTS))
        self.register_buffer("outputs", torch.zeros(len(numeric), KNOTS))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_scale", torch.ones(()))
        self.embeddings = nn.ModuleList(nn.Embedding(int(k) + 1, embedding_size(int(k)))
                                        for k in cardinalities)
        width_in = len(numeric) + len(missing) + sum(e.embedding_dim for e in self.embeddings)
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(width_in, width), nn.BatchNorm1d(width), nn.SiLU(),
                       nn.Dropout(dropout)]
            width_in = width
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width_in, n_out)

    def set_encoding(self, X: np.ndarray, y_mean: float = 0.0, y_scale: float = 1.0) -> None:
        """Learn the fill values and quantile knots from training rows (float64, NaN)."""
        numbers = X[:, self.numeric.numpy()]
        medians = np.nanmedian(numbers, axis=0) if numbers.size else np.zeros(0)
        knots, outputs = quantile_knots(numbers)
        with torch.no_grad():
            self.fill.copy_(torch.from_numpy(np.nan_to_num(medians)))
            self.knots.copy_(torch.from_numpy(knots))
            self.outputs.copy_(torch.from_numpy(outputs))
            self.target_mean.fill_(y_mean)
            self.target_scale.fill_(y_scale)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Numbers mapped (plus missing flags), and category codes as embedding rows."""
        numbers = x[:, self.numeric]
        absent = torch.isnan(numbers)
        numbers = torch.where(absent, self.fill, numbers)
        width = self.knots[:, 1:] - self.knots[:, :-1]
        slope = (self.outputs[:, 1:] - self.outputs[:, :-1]) / width.clamp(min=1e-12)
        slope = torch.where(width > 0, slope, torch.zeros_like(slope))
        rise = (numbers.unsqueeze(-1) - self.knots[:, :-1]).clamp(min=0.0)
        rise = torch.minimum(rise, width)
        mapped = self.outputs[:, 0] + (rise * slope).sum(-1)
        flags = absent[:, self.missing].to(mapped.dtype)
        codes = x[:, self.categorical]
        unknown = torch.isnan(codes) | (codes < 0) | (codes >= self.cardinalities)
        codes = torch.where(unknown, self.cardinalities, torch.nan_to_num(codes)).long()
        return torch.cat([mapped, flags], dim=1), codes

    def body_forward(self, numbers: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Logits (classification) or the standardized target (regression)."""
        parts = [numbers] + [embedding(codes[:, j]) for j, embedding in
                             enumerate(self.embeddings)]
        return self.head(self.body(torch.cat(parts, dim=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body_forward(*self.encode(x))


class Served(nn.Module):
    """What prediction and ONNX export run: probabilities, or values in the target's units."""

    def __init__(self, net: TabularNet, classify: bool) -> None:
        super().__init__()
        self.net, self.classify = net, classify

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.classify:
            return torch.softmax(out, dim=1)
        return out[:, 0] * self.net.target_scale + self.net.target_mean


def build(spec: dict[str, Any]) -> TabularNet:
    """A network from the architecture ``spec`` saved in the model's info."""
    return TabularNet(spec["n_columns"], spec["categorical"], spec["cardinalities"],
                      spec["missing"], spec["layers"], spec["width"], spec["dropout"],
                      spec["n_out"])

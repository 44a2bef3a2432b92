"""ONNX export of cnn and transfer models, alone or blended: raw uint8 pixels in, class
probabilities out.

Resizing (two MatMuls with the training resize matrices), channel matching and normalization
are inside the graph, so a user feeds images exactly as they were in training (N, H, W, C)
uint8 at the training size; the batch axis is dynamic. A blend (the ensemble a run served) is
one graph: each member's softmax, spread over the task's classes with its weight, summed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accelml.core.learner import Fitted
from accelml.errors import ConfigError, MissingDependencyError
from accelml.vision.train import predict_proba, preprocess_from

EXPORTABLE = ("cnn", "transfer")
INSTALL = "pip install accelml[export]"


#: (learner name, fitted model, weight in the blend)
ExportMember = tuple[str, Fitted, float]


def _spread(info: dict, weight: float) -> torch.Tensor:
    """(classes seen, task classes) matrix placing a member's outputs, times its weight."""
    spread = torch.zeros(len(info["classes"]), int(info["n_classes"]))
    spread[torch.arange(len(info["classes"])), torch.tensor(info["classes"])] = weight
    return spread


class _Exported(nn.Module):
    """Preprocess -> network -> softmax per member, blended over all the task's classes."""

    def __init__(self, members: Sequence[ExportMember]) -> None:
        super().__init__()
        total = sum(weight for _, _, weight in members)
        self.pres = nn.ModuleList(preprocess_from(f.info) for _, f, _ in members)
        self.nets = nn.ModuleList(f.model for _, f, _ in members)
        for index, (_, fitted, weight) in enumerate(members):
            self.register_buffer(f"spread_{index}", _spread(fitted.info, weight / total))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        blended = None
        for index, (pre, net) in enumerate(zip(self.pres, self.nets, strict=True)):
            proba = torch.softmax(net(pre(images)).float(), dim=1)
            part = torch.matmul(proba, getattr(self, f"spread_{index}"))
            blended = part if blended is None else blended + part
        return blended


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise MissingDependencyError(f"ONNX export needs {module}: {INSTALL}") from None


def export_onnx(members: Sequence[ExportMember], path: Path, opset: int = 18) -> Path:
    """Write the blend of ``members`` (one model: weight 1) as an ONNX graph at ``path``.

    The output has one column per class of the task, in the task's order (classes a model
    never saw get 0). Exported on the CPU in float32.
    """
    _require("onnx")
    for name, fitted, _ in members:
        if name not in EXPORTABLE or fitted.model is None:
            what = " (a constant model)" if fitted.model is None else ""
            raise ConfigError(f"ONNX export covers trained {' and '.join(EXPORTABLE)} models, "
                              f"not {name!r}{what}")
    module = _Exported(members).cpu().eval()
    height, width, channels = members[0][1].info["input_shape"]
    example = torch.zeros((2, height, width, channels), dtype=torch.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        _export(module, example, path, opset)
    for _, fitted, _ in members:
        fitted.model.to(fitted.info.get("device", "cpu"))
    return path


def _export(module: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    """The torch.export-based exporter (torch's default); the TorchScript one if it fails.

    The fallback keeps export working for networks the newer exporter cannot trace yet
    (some timm models); both give the same graph for ours (checked by check_onnx).
    """
    names = {"input_names": ["images"], "output_names": ["probabilities"],
             "opset_version": opset}
    try:
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(module, (example,), str(path), dynamic_shapes=({0: batch},),
                          dynamo=True, verbose=False, **names)
    except Exception:  # noqa: BLE001  (any tracing failure: try the older exporter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(path), dynamo=False, **names,
                              dynamic_axes={"images": {0: "batch"},
                                            "probabilities": {0: "batch"}})


def check_onnx(path: Path, members: Sequence[ExportMember], images: np.ndarray) -> float:
    """Largest absolute difference between ONNX Runtime's and PyTorch's probabilities.

    ``images`` are uint8 (N, H, W, C) at the training size.
    """
    _require("onnxruntime")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = np.ascontiguousarray(images, dtype=np.uint8)
    (onnx_proba,) = session.run(["probabilities"], {"images": images})
    total = sum(weight for _, _, weight in members)
    torch_proba = np.zeros(onnx_proba.shape)
    for _, fitted, weight in members:
        proba = predict_proba(fitted.model, images, fitted.info, device="cpu")
        torch_proba[:, fitted.info["classes"]] += weight / total * proba
        fitted.model.to(fitted.info.get("device", "cpu"))
    return float(np.max(np.abs(onnx_proba.astype(np.float64) - torch_proba)))

"""ONNX export of cnn and transfer models: raw uint8 pixels in, class probabilities out.

Resizing (two MatMuls with the training resize matrices), channel matching and normalization
are inside the graph, so a user feeds images exactly as they were in training (N, H, W, C)
uint8 at the training size; the batch axis is dynamic.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accelml.core.learner import Fitted
from accelml.errors import ConfigError, MissingDependencyError
from accelml.vision.train import predict_proba, preprocess_from

EXPORTABLE = ("cnn", "transfer")
INSTALL = "pip install accelml[export]"


class _Exported(nn.Module):
    """Preprocess -> network -> softmax, over the classes seen in training."""

    def __init__(self, fitted: Fitted) -> None:
        super().__init__()
        self.pre = preprocess_from(fitted.info)
        self.net = fitted.model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(self.pre(images)).float(), dim=1)


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise MissingDependencyError(f"ONNX export needs {module}: {INSTALL}") from None


def export_onnx(learner_name: str, fitted: Fitted, path: Path, opset: int = 18) -> Path:
    """Write ``fitted`` as an ONNX graph at ``path``; returns the path.

    The output has one column per class seen in training (``fitted.info["classes"]`` maps
    them to the task's classes). Exported on the CPU in float32.
    """
    _require("onnx")
    if learner_name not in EXPORTABLE or fitted.model is None:
        what = " (a constant model)" if fitted.model is None else ""
        raise ConfigError(f"ONNX export covers trained {' and '.join(EXPORTABLE)} models, not "
                          f"{learner_name!r}{what}")
    module = _Exported(fitted).cpu().eval()
    height, width, channels = fitted.info["input_shape"]
    example = torch.zeros((2, height, width, channels), dtype=torch.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        _export(module, example, path, opset)
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


def check_onnx(path: Path, fitted: Fitted, images: np.ndarray) -> float:
    """Largest absolute difference between ONNX Runtime's and PyTorch's probabilities.

    ``images`` are uint8 (N, H, W, C) at the training size.
    """
    _require("onnxruntime")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = np.ascontiguousarray(images, dtype=np.uint8)
    (onnx_proba,) = session.run(["probabilities"], {"images": images})
    torch_proba = predict_proba(fitted.model, images, fitted.info, device="cpu")
    fitted.model.to(fitted.info.get("device", "cpu"))
    return float(np.max(np.abs(onnx_proba.astype(np.float64) - torch_proba)))

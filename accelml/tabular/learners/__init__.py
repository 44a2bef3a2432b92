"""Tabular learners; importing this package registers every family.

Each family lives in its own module (named ``*_learner`` where the library's own name would
read as a shadow of it) and registers itself with ``@register`` on import. ``torch_mlp``
registers only where torch and safetensors are installed (the ``nn`` extra); its module
imports neither until it trains.
"""

from importlib.util import find_spec

from accelml.core.learner import register_unavailable
from accelml.tabular.learners import (  # noqa: F401  (imported to register)
    catboost_learner,
    extra_trees,
    knn,
    lightgbm_learner,
    linear,
    mlp,
    random_forest,
    xgboost_learner,
)

if find_spec("torch") and find_spec("safetensors"):
    from accelml.tabular.learners import torch_mlp  # noqa: F401
else:
    register_unavailable("torch_mlp", "pip install 'accelml[nn]' (torch and safetensors)")

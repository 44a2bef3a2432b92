"""Tabular learners; importing this package registers every family.

Each family lives in its own module (named ``*_learner`` where the library's own name would
read as a shadow of it) and registers itself with ``@register`` on import.
"""

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

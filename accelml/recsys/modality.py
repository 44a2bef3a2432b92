"""Recommendations as a modality (filled in below)."""

from __future__ import annotations

from accelml.core.modality import Modality, register_modality

LEARNERS = ("popularity", "item_knn", "user_knn", "ease", "als", "bpr", "biased_mf",
            "hybrid_ranker")


@register_modality
class RecsysModality(Modality):
    """Interactions of users with items, ranked per user."""

    name = "recsys"
    learner_modules = ("accelml.recsys.learners",)
    learner_names = LEARNERS
    priority = 20

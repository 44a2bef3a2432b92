"""Recommendation learners; importing this package registers them."""

from accelml.recsys.learners import ease, factors, hybrid, mf, neighbours, popularity  # noqa: F401

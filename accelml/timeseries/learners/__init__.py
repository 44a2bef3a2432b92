"""Forecasting learners; importing this package registers them."""

from accelml.timeseries.learners import global_boosting, network, statistical  # noqa: F401

"""Forecasting: many time series, forecast several steps ahead."""

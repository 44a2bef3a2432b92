"""Serving saved models over HTTP (``accelml serve``); needs the ``serve`` extra."""

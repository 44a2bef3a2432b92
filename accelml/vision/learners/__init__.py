"""Image learners; importing this package registers them (it imports torch)."""

from accelml.vision.learners import cnn, transfer  # noqa: F401  (imported to register)

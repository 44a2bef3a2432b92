"""The text learners; importing this package registers them. ``text_transformer`` (the
fine-tuned sentence encoder) registers only where torch, transformers and the packaged
encoder are installed (``accelml[text]``); its module imports none of them until it trains.
"""

from accelml.core.learner import register_unavailable
from accelml.text.encoder import INSTALL_HINT, unavailable
from accelml.text.learners import bayes, boosting, linear  # noqa: F401  (imported to register)

if unavailable() is None:
    from accelml.text.learners import transformer  # noqa: F401
else:
    register_unavailable("text_transformer", INSTALL_HINT)

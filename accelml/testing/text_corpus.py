"""Small texts for tests: short reviews of three topics in two sentiments, made of everyday
words, deterministic for a seed. Real enough for n-grams and the sentence encoder (plain
English), small enough that a learner's checks take a moment."""

from __future__ import annotations

import numpy as np
import pandas as pd

TOPICS = {
    "film": ["the film", "this movie", "the acting", "the plot", "the director's work"],
    "food": ["the pasta", "this restaurant", "the service", "the dessert", "the soup"],
    "phone": ["this phone", "the battery", "the screen", "the camera", "the charger"],
}
GOOD = ["was wonderful", "is a delight", "felt great", "was superb", "is really lovely",
        "works perfectly", "was excellent"]
BAD = ["was awful", "is a disaster", "felt terrible", "was boring", "is really poor",
       "broke at once", "was dreadful"]
TAILS = ["", "and I would say so again", "to be honest", "from start to end", "overall",
         "for the price", "in my view"]


def reviews(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """``n`` reviews: columns ``text``, ``topic`` (film / food / phone), ``sentiment``
    (positive / negative), ``stars`` (1-5, from the sentiment with noise) and ``length``
    (words, a numeric side column)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topic = list(TOPICS)[i % 3]
        positive = (i // 3) % 2 == 0
        subject = TOPICS[topic][rng.integers(len(TOPICS[topic]))]
        verdict = (GOOD if positive else BAD)[rng.integers(7)]
        tail = TAILS[rng.integers(len(TAILS))]
        text = f"{subject} {verdict} {tail}".strip().capitalize()
        if rng.random() < 0.3:
            text += "!"
        stars = int(np.clip((4.5 if positive else 1.5) + rng.normal(0, 0.7), 1, 5))
        rows.append({"text": text, "topic": topic,
                     "sentiment": "positive" if positive else "negative", "stars": stars,
                     "length": len(text.split())})
    return pd.DataFrame(rows)

"""Near-duplicate texts: groups of rows that are copies or pieces of one longer text.

Phrase-level corpora (SST-2's training phrases are sub-phrases of its sentences) and scraped
reviews (the same review posted twice) put near-copies of one text on both sides of a random
split, so validation scores what the model memorised: on SST-2, random k-fold accuracy is
about 0.92 where the test sentences give about 0.83, and tuning follows the inflated score.
Each row is grouped with the longest text that contains it (token-bounded, after lowercasing
and collapsing whitespace); that text is the group's *root*. Splits keep a group on one side
and validate on roots, which look like the whole texts a model is later asked about.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Candidate roots checked per text before it is left in a group of its own (a phrase made
#: only of very common words, whose grouping matters little).
MAX_CANDIDATES = 400
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class DuplicateGroups:
    """Row -> group, and which rows are roots (the longest text of their group).

    Attributes:
        groups: group id of every row (0..n_groups-1).
        roots: True where the row is its group's longest text.
    """

    groups: np.ndarray
    roots: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1 if len(self.groups) else 0

    @property
    def grouped_rows(self) -> int:
        """Rows that share their group with another row."""
        sizes = np.bincount(self.groups)
        return int(sizes[sizes > 1].sum())


def normalise(text: str) -> str:
    """Lowercase, whitespace collapsed, padded with spaces (so containment is by tokens)."""
    return " " + _SPACE.sub(" ", text.lower()).strip() + " "


def find_groups(texts: Sequence[str]) -> DuplicateGroups:
    """Group every text with the longest other text that contains it.

    Texts are visited longest first; one that no earlier root contains becomes a root. The
    roots worth checking are those holding the text's rarest token (an inverted index), so
    the cost stays near linear for real corpora.
    """
    normal = [normalise(t) for t in texts]
    tokens = [set(_TOKEN.findall(t)) for t in normal]
    frequency: dict[str, int] = defaultdict(int)
    for row_tokens in tokens:
        for token in row_tokens:
            frequency[token] += 1
    order = sorted(range(len(normal)), key=lambda i: (-len(normal[i]), i))
    groups = np.full(len(normal), -1, dtype=np.int64)
    roots = np.zeros(len(normal), dtype=bool)
    exact: dict[str, int] = {}
    index: dict[str, list[int]] = defaultdict(list)  # token -> root rows holding it
    for row in order:
        text = normal[row]
        if text in exact:  # the same text again
            groups[row] = groups[exact[text]]
            continue
        root = _containing_root(text, tokens[row], frequency, index, normal)
        if root is None:
            groups[row] = row
            roots[row] = True
            exact[text] = row
            for token in tokens[row]:
                index[token].append(row)
        else:
            groups[row] = groups[root]
            exact[text] = row
    _, dense = np.unique(groups, return_inverse=True)
    return DuplicateGroups(dense.astype(np.int64), roots)


def _containing_root(text: str, row_tokens: set[str], frequency: dict[str, int],
                     index: dict[str, list[int]], normal: list[str]) -> int | None:
    """The first (longest) root that contains ``text``, or None."""
    if not row_tokens:
        return None
    rarest = min(row_tokens, key=lambda token: frequency[token])
    candidates = index.get(rarest, [])
    if len(candidates) > MAX_CANDIDATES:
        return None
    for root in candidates:
        if text in normal[root]:
            return root
    return None

"""Finding a copy's original from signatures alone (shingle sets computed on demand) decides as holding every set did.

``OldGroups`` is the implementation every write used before (all shingle sets and signatures in lists), kept as the
oracle: random corpora with planted near-copies, discards and re-adds, queried through both.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pytest

from qa.store.duplicates import Groups, Signature, jaccard, shingles, signature, signatures

WORDS = [f"w{i}" for i in range(60)]


@dataclass
class OldGroups:
    """The oracle: today's Groups before signatures were memory-mapped (verbatim but for the name)."""

    threshold: float
    _ids: list[str] = field(default_factory=list)
    _sets: list[frozenset[int]] = field(default_factory=list)
    _signatures: list[Signature] = field(default_factory=list)

    @classmethod
    def of(cls, texts: Iterable[tuple[str, str]], threshold: float) -> OldGroups:
        groups = cls(threshold)
        for doc_id, text in texts:
            groups.add(doc_id, text)
        return groups

    def add(self, doc_id: str, text: str) -> None:
        found = shingles(text)
        self._ids.append(doc_id)
        self._sets.append(found)
        self._signatures.append(signature(found))

    def discard(self, doc_id: str) -> None:
        if doc_id in self._ids:
            i = self._ids.index(doc_id)
            del self._ids[i], self._sets[i], self._signatures[i]

    def original_of(self, text: str) -> str | None:
        if not self._ids or self.threshold <= 0:
            return None
        found = shingles(text)
        estimates = (np.vstack(self._signatures) == signature(found)).mean(axis=1)
        for i in np.argsort(-estimates, kind="stable")[:5]:
            if estimates[i] < self.threshold - 0.15:
                break
            if jaccard(found, self._sets[i]) >= self.threshold:
                return self._ids[int(i)]
        return None


def article(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 80)))


def near_copy(rng: random.Random, text: str) -> str:
    """The text with a few words changed, dropped or added (sometimes none: an exact copy)."""
    words = text.split()
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
        at = rng.randrange(len(words) + 1)
        move = rng.random()
        if move < 0.4 and at < len(words):
            words[at] = rng.choice(WORDS)
        elif move < 0.7 and at < len(words) and len(words) > 1:
            del words[at]
        else:
            words.insert(at, rng.choice(WORDS))
    return " ".join(words)


def text_for(rng: random.Random, texts: dict[str, str]) -> str:
    """A new article, or a near copy of one seen (planted duplicates are most of them)."""
    if texts and rng.random() < 0.6:
        return near_copy(rng, texts[rng.choice(sorted(texts))])
    return article(rng)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.8, 0.95])
def test_signatures_only_groups_decide_as_the_oracle(seed: int, threshold: float) -> None:
    rng = random.Random(seed * 101 + int(threshold * 100))
    texts: dict[str, str] = {}
    for i in range(rng.randint(0, 60)):
        texts[f"b{i:03d}"] = text_for(rng, texts)
    base = list(texts)
    oracle = OldGroups.of(((d, texts[d]) for d in base), threshold)
    grown = Groups.of(((d, texts[d]) for d in base), threshold)
    mapped = Groups(threshold, base, signatures(texts[d] for d in base), text_of=texts.__getitem__)
    current = dict(texts)  # what text_of answers for the base ids: never changed while they are findable
    decided = 0
    for step in range(150):
        move = rng.random()
        if move < 0.45:
            query = text_for(rng, texts)
            found = {oracle.original_of(query), grown.original_of(query), mapped.original_of(query)}
            assert len(found) == 1, (step, found)
            decided += found != {None}
        elif move < 0.75:
            doc_id, text = f"n{step:03d}", text_for(rng, texts)
            texts[doc_id] = text
            for groups in (oracle, grown, mapped):
                groups.add(doc_id, text)
        elif move < 0.9 and texts:
            gone = rng.choice(sorted(texts))
            for groups in (oracle, grown, mapped):
                groups.discard(gone)
        elif texts:  # an article discarded and put again (with other text when not a base one) goes to the end
            again = rng.choice(sorted(texts))
            text = current[again] if again in current else text_for(rng, texts)
            texts[again] = text
            for groups in (oracle, grown, mapped):
                groups.discard(again)
                groups.add(again, text)
    if threshold > 0 and len(base) > 10:
        assert decided  # the planted copies were found, not only misses compared


def test_signatures_of_returns_the_rows_held() -> None:
    texts = {"a": "one two three four five six", "b": "seven eight nine ten eleven twelve", "c": "x y z"}
    groups = Groups(0.8, ["a", "b"], signatures([texts["a"], texts["b"]]), text_of=texts.__getitem__)
    groups.add("c", texts["c"])
    groups.discard("a")
    assert "a" not in groups and len(groups) == 2
    assert (groups.signatures_of(["c", "b"]) == signatures([texts["c"], texts["b"]])).all()
    with pytest.raises(ValueError, match="ids for"):
        Groups(0.8, ["a"], signatures([]))

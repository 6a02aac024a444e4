"""BM25 keyword index (bm25s) over stemmed, stopword-free terms."""

from __future__ import annotations

import logging
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt

from qa.base.terms import terms


class KeywordIndex:
    """BM25 over passages; row i of the scores is passage i."""

    def __init__(self, bm25: bm25s.BM25) -> None:
        self.bm25 = bm25
        self.size = int(bm25.scores["num_docs"])

    @classmethod
    def build(cls, texts: list[str], *, k1: float = 1.2, b: float = 0.75) -> KeywordIndex:
        """Index the texts (one BM25 document each)."""
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        bm25 = bm25s.BM25(k1=k1, b=b)
        bm25.index([terms(t) or [""] for t in texts], show_progress=False)
        return cls(bm25)

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """BM25 score of every passage for the query (zeros when no query term is known)."""
        ids = self.bm25.get_tokens_ids(terms(query))
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)

    def known_fraction(self, query: str) -> float:
        """Share of the query's terms that occur anywhere in the index."""
        query_terms = terms(query)
        if not query_terms:
            return 0.0
        return sum(t in self.bm25.vocab_dict for t in query_terms) / len(query_terms)

    def save(self, folder: Path) -> None:
        """Write the index files into ``folder``."""
        self.bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        """Read an index written by :meth:`save`."""
        return cls(bm25s.BM25.load(str(folder), show_progress=False))

    def idf(self, query_terms: list[str]) -> list[float]:
        """BM25 inverse document frequency of each term; a term the index never saw gets the highest."""
        indptr = self.bm25.scores["indptr"]
        out = []
        for term in query_terms:
            row = self.bm25.vocab_dict.get(term)
            df = 0 if row is None else int(indptr[row + 1] - indptr[row])
            out.append(float(np.log((self.size - df + 0.5) / (df + 0.5) + 1.0)))
        return out

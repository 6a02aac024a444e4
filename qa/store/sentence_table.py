"""Every indexed sentence with its vector, so answers are picked without embedding anything at query time."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from qa.base.records import Document, Passage
from qa.base.sentences import split_sentences
from qa.store.embedding import Encoder, Vectors, embed_all

MIN_WORDS = 4


@dataclass(frozen=True)
class SentenceTable:
    """Sentences of the passages (row i of ``vectors`` is ``spans[i]``), findable by passage."""

    spans: list[Passage]
    vectors: Vectors
    _by_doc: dict[str, list[tuple[int, int, int]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_doc: dict[str, list[tuple[int, int, int]]] = {}
        for row, span in enumerate(self.spans):
            by_doc.setdefault(span.doc_id, []).append((span.start, span.end, row))
        for rows in by_doc.values():
            rows.sort()
        object.__setattr__(self, "_by_doc", by_doc)

    @classmethod
    def build(
        cls,
        passages: list[Passage],
        docs: dict[str, Document],
        encoder: Encoder,
        batch_size: int,
        say: Callable[[str], None] | None = None,
    ) -> SentenceTable:
        """Split every passage into sentences (each kept once) and embed them, reporting progress on long runs."""
        seen: set[tuple[str, int, int]] = set()
        spans: list[Passage] = []
        for p in passages:
            text = docs[p.doc_id].text
            for start, end in split_sentences(text, p.start, p.end):
                key = (p.doc_id, start, end)
                if key not in seen and len(text[start:end].split()) >= MIN_WORDS:
                    seen.add(key)
                    spans.append(Passage(doc_id=p.doc_id, start=start, end=end, text=text[start:end]))
        texts = [s.text for s in spans]
        return cls(spans, embed_all(encoder, texts, batch_size, "sentences", say or (lambda _msg: None)))

    def rows_in(self, passage: Passage) -> list[int]:
        """Rows of the sentences lying inside a passage, in text order."""
        rows = self._by_doc.get(passage.doc_id, [])
        first = bisect.bisect_left(rows, (passage.start, -1, -1))
        out = []
        for start, end, row in rows[first:]:
            if start >= passage.end:
                break
            if end <= passage.end:
                out.append(row)
        return out

    def save_vectors(self, path: Path) -> None:
        """Write the vectors as a .npy array (the spans are written by the index as JSON Lines)."""
        with path.open("wb") as fh:
            np.save(fh, self.vectors, allow_pickle=False)

    @classmethod
    def load(cls, spans_path: Path, vectors_path: Path) -> SentenceTable:
        """Read spans (JSON Lines) and vectors (.npy) written by the index."""
        spans = msgspec.json.decode(b"[" + b",".join(spans_path.read_bytes().splitlines()) + b"]", type=list[Passage])
        vectors = np.load(vectors_path, allow_pickle=False).astype(np.float32)
        if len(vectors) != len(spans):
            raise ValueError(f"{len(spans)} sentences but {len(vectors)} sentence vectors")
        return cls(spans, vectors)

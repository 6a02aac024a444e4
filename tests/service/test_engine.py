"""The library entry point: input validation, answers and abstentions, timings, documents and opening."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from conftest import FakeEncoder

import qa.base.sentences
import qa.service.engine
import qa.service.lifecycle
from qa.base.errors import IndexMissing, InvalidInput, NotFound
from qa.base.records import Answer
from qa.base.settings import Settings
from qa.retrieval.search import keyword_found
from qa.service.engine import NO_RELEVANT_PASSAGE, Engine
from qa.store.corpus import make_document
from qa.store.snapshot import build, build_from_documents
from qa.web.decoding import parse_ask

TEXTS = {
    "otters": "Otters return to the harbour\n\n"
    "The otters returned to the harbour in spring after twenty years away. "
    "Fishermen in the harbour counted twelve otters on the rocks by the old pier. "
    "The harbour master said the otters eat crabs and fish. "
    "Visitors are asked to keep their dogs away from the rocks. "
    "The otters sleep in the reeds at the far end of the harbour.",
    "bridge": "Bridge reopens\n\nThe old stone bridge reopened on Monday after two years of repairs. "
    "Engineers replaced the arches of the bridge and the council paid for the stone.",
    "march": "Long march reaches Quetta\n\n"
    "Protesters marched from Turbat to Quetta demanding answers about the killing. "
    "The march lasted ten days and thousands joined it on the road to Quetta.",
}
COPIED = "Fishermen in the harbour counted twelve otters on the rocks by the old pier."
RALLY = "Where did the BYC stage its big rally in early 2025?"
INCOME = "What is the average household income in Balochistan?"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.of(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", chunk_tokens=32, chunk_overlap=8, default_top_k=3
    )


@pytest.fixture
def small(settings: Settings, fake_encoder: FakeEncoder) -> Engine:
    docs = [make_document(doc_id, text) for doc_id, text in TEXTS.items()]
    return Engine(settings, fake_encoder, build_from_documents(docs, settings.build, fake_encoder))


def check_citations(result: Answer, engine: Engine) -> None:
    assert result.citations
    assert result.reason is None
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", result.answer)]
    assert markers == [c.n for c in result.citations]
    hits = {h.rank: h for h in result.hits}
    for cite in result.citations:
        hit = hits[cite.n]
        assert cite.doc_id == hit.passage.doc_id
        assert hit.passage.start <= cite.start < cite.end <= hit.passage.end
        assert engine.document(cite.doc_id).text[cite.start : cite.end] == cite.quote


# Validation of the question.


@pytest.mark.parametrize("question", [None, 42, 4.2, ["Who led the march?"], {"q": "x"}])
def test_non_string_question_is_refused_at_the_edge(question: Any) -> None:
    with pytest.raises(InvalidInput, match=r"^question: Expected `str`") as info:
        parse_ask(msgspec.json.encode({"question": question}))
    assert '"question"' in str(info.value), "the message shows the expected shape"
    assert info.value.kind == "invalid-input"


@pytest.mark.parametrize("question", ["", " ", "\n\t  \r\n", "\u00a0\u2003"])
def test_empty_question_is_refused(small: Engine, question: str) -> None:
    with pytest.raises(InvalidInput, match=r"question is empty; send the question text"):
        small.ask(question)


def test_too_long_question_is_refused_with_the_limit(small: Engine) -> None:
    limit = small.settings.answers.max_question_chars
    with pytest.raises(InvalidInput) as info:
        small.ask("a" * (limit + 1))
    message = str(info.value)
    assert f"{limit + 1} characters" in message and f"limit is {limit}" in message and "shorten" in message


def test_question_at_the_limit_and_padded_questions_are_accepted(small: Engine) -> None:
    limit = small.settings.answers.max_question_chars
    assert small.ask("otters " * (limit // 7)).question
    padded = small.ask("   " + "b" * limit + "   \n")
    assert padded.question == "b" * limit, "the question is stripped before its length is checked"
    assert small.ask("  Where do the otters sleep?  ").question == "Where do the otters sleep?"


# Validation of top_k.


def test_top_k_none_is_the_default(small: Engine) -> None:
    assert len(small.index.passages) > small.settings.answers.default_top_k == 3
    assert len(small.ask("otters in the harbour").hits) == 3
    assert len(small.ask("otters in the harbour", top_k=None).hits) == 3


@pytest.mark.parametrize("top_k", [0, -1, 51, 1000, True, False, "3", 2.5, 3.0, [3]])
def test_bad_top_k_is_refused(small: Engine, top_k: Any) -> None:
    with pytest.raises(InvalidInput, match=r"top_k must be a whole number from 1 to 50, got ") as info:
        small.ask("otters in the harbour", top_k=top_k)
    assert repr(top_k) in str(info.value)


def test_top_k_bounds_are_accepted(small: Engine) -> None:
    assert [h.rank for h in small.ask("otters", top_k=1).hits] == [1]
    assert len(small.ask("otters", top_k=50).hits) == len(small.index.passages)


def test_top_k_limit_follows_the_settings(settings: Settings, fake_encoder: FakeEncoder) -> None:
    docs = [make_document(doc_id, text) for doc_id, text in TEXTS.items()]
    narrow = settings.replace(max_top_k=4)
    engine = Engine(narrow, fake_encoder, build_from_documents(docs, narrow.build, fake_encoder))
    assert len(engine.ask("otters", top_k=4).hits) == 4
    with pytest.raises(InvalidInput, match="from 1 to 4, got 5"):
        engine.ask("otters", top_k=5)


# Answers, abstentions and timings.


def test_question_copied_from_a_sentence_is_answered_with_it(small: Engine) -> None:
    result = small.ask(COPIED)
    assert result.answerable
    assert 0.0 <= result.confidence <= 1.0
    check_citations(result, small)
    assert COPIED in [c.quote for c in result.citations]


def test_unrelated_question_abstains_but_returns_passages(small: Engine) -> None:
    result = small.ask("xylophone quixotic zebra", top_k=2)
    assert not result.answerable
    assert result.reason == NO_RELEVANT_PASSAGE
    assert result.citations == ()
    assert "[" not in result.answer and result.answer
    assert len(result.hits) == 2
    assert result.confidence < small.threshold


def test_abstain_threshold_decides(settings: Settings, fake_encoder: FakeEncoder) -> None:
    docs = [make_document(doc_id, text) for doc_id, text in TEXTS.items()]
    strict = settings.replace(abstain_threshold=1.0)
    engine = Engine(strict, fake_encoder, build_from_documents(docs, strict.build, fake_encoder))
    result = engine.ask("Where do the otters sleep?")
    assert result.confidence < 1.0
    assert not result.answerable and result.reason == NO_RELEVANT_PASSAGE and result.hits


def test_a_request_splits_no_passage_again(small: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_split(*_args: object) -> None:
        pytest.fail("a passage was split into sentences at query time; the index's sentence table has them")

    monkeypatch.setattr(qa.base.sentences, "_blocks", no_split)
    result = small.ask("How many otters did the fishermen count?")
    assert result.answerable and "twelve otters" in result.answer


def test_timings(small: Engine) -> None:
    timings = small.ask("otters in the harbour").timings_ms
    assert set(timings) == {"embed", "search", "answer", "generate", "total"}
    assert all(v >= 0 for v in timings.values())
    parts = timings["embed"] + timings["search"] + timings["answer"] + timings["generate"]
    assert timings["total"] == pytest.approx(parts, abs=0.01)


@pytest.mark.parametrize("aside", [True, False])
def test_the_keyword_side_found_while_embedding_is_the_one_found_after(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, aside: bool
) -> None:
    """On a large index the question's keyword scores and rows come from another thread, as ``keyword_found`` gives
    them here; on a small one they are left to ``search``."""
    threads: list[int] = []

    def recorded(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return keyword_found(*args)

    monkeypatch.setattr(qa.service.engine, "keyword_found", recorded)
    monkeypatch.setattr(qa.service.engine, "ASIDE_ROWS", 0 if aside else engine.index.size + 1)
    index = engine.index
    allowed = np.zeros(index.size, dtype=bool)
    allowed[: index.size // 2] = True
    for where in (None, allowed):
        vector, found = engine.embedded(RALLY, index, where)
        assert np.array_equal(vector, engine.encoder.encode([RALLY])[0])
        if not aside:
            assert found is None
            continue
        alone = keyword_found(index, RALLY, engine.settings.search, where)
        assert found is not None and found.rows == alone.rows and len(found.rows) > 0
        assert np.array_equal(found.scores, alone.scores)
        assert where is None or all(r < index.size // 2 for r in found.rows)
    assert len(threads) == (2 if aside else 0) and threading.get_ident() not in threads
    hits = engine.ask(RALLY).hits
    monkeypatch.setattr(qa.service.engine, "ASIDE_ROWS", index.size + 1 if aside else 0)
    other = engine.ask(RALLY).hits
    assert [h.passage for h in other] == [h.passage for h in hits]
    assert [h.scores.fused for h in other] == pytest.approx([h.scores.fused for h in hits], abs=1e-6)


def test_real_answerable_question_is_cited(engine: Engine) -> None:
    result = engine.ask(RALLY)
    assert result.answerable
    assert "Dalbandin" in result.answer
    check_citations(result, engine)
    assert len(result.hits) == engine.settings.answers.default_top_k


def test_real_unanswerable_question_abstains(engine: Engine) -> None:
    result = engine.ask(INCOME, top_k=4)
    assert not result.answerable
    assert result.reason == NO_RELEVANT_PASSAGE
    assert result.citations == ()
    assert len(result.hits) == 4
    assert result.confidence < engine.threshold
    assert set(result.timings_ms) == {"embed", "search", "answer", "generate", "total"}


# Documents.


def test_documents_and_document(small: Engine) -> None:
    assert [d.id for d in small.documents()] == sorted(TEXTS)
    assert small.document("bridge").title == "Bridge reopens"
    with pytest.raises(NotFound, match=r"no document with id 'nope'; GET /documents lists the ids") as info:
        small.document("nope")
    assert info.value.kind == "not-found"


def test_real_documents_are_the_seeds(engine: Engine) -> None:
    ids = [d.id for d in engine.documents()]
    assert ids == sorted(p.stem for p in engine.settings.build.corpus_dir.glob("*.txt"))
    with pytest.raises(NotFound):
        engine.document("999_missing")


# Opening.


def test_open_without_index_fails_before_loading_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*_args: object, **_kwargs: object) -> None:
        pytest.fail("Engine.open loaded the model before finding out there is no index")

    monkeypatch.setattr(qa.service.lifecycle, "open_encoder", no_model)
    (tmp_path / "index").mkdir()
    started = time.perf_counter()
    for folder in (tmp_path / "index", tmp_path / "absent"):
        with pytest.raises(IndexMissing, match="qa index"):
            Engine.open(Settings.of(corpus_dir=tmp_path, index_dir=folder))
    assert time.perf_counter() - started < 1.0


def test_open_loads_a_saved_index_with_the_given_encoder(
    settings: Settings, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.build.corpus_dir.mkdir()
    for doc_id, text in TEXTS.items():
        (settings.build.corpus_dir / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    built = build(settings.build, fake_encoder)
    monkeypatch.setattr(qa.service.lifecycle, "open_encoder", lambda *_a, **_k: pytest.fail("model loaded"))
    opened = Engine.open(settings, fake_encoder)
    assert opened.encoder is fake_encoder
    assert opened.index.passages == built.passages
    result = opened.ask(COPIED)
    assert result.answerable
    check_citations(result, opened)

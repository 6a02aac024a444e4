"""Checking an answer's [n] markers: parsing, invalid markers, support, exact quotes, grounding."""

from __future__ import annotations

import pytest
from conftest import COUNT, FakeEncoder

from qa.answers.citations import COMBINED_THRESHOLD, LEXICAL_THRESHOLD, check, markers
from qa.answers.prompt import NO_ANSWER, build_prompt
from qa.base.records import Document, Hit, Passage, Scores
from qa.base.settings import Settings
from qa.models.interface import Prompt
from qa.service.engine import Engine
from qa.store.embedding import Encoder, SentenceEncoder, Vectors
from qa.store.sentence_table import SentenceTable

TEXTS = [
    "In early 2025, the BYC held a massive protest rally in Dalbandin. Thousands of people attended the rally.",
    "Officials said 12 people were killed in the attack on the convoy near Quetta on Tuesday. Roads were closed.",
    "Hospital staff in Quetta said the attack on the convoy killed 15 people. A curfew was declared in Turbat.",
]


SCORES = Scores(dense=0.5, keyword=1.0, fused=1.0)


def setup(encoder: Encoder | None = None) -> tuple[Prompt, dict[str, Document], SentenceTable]:
    """The prompt over TEXTS, its documents, and their sentence table (embedded with ``encoder`` or a fake one)."""
    hits, docs = [], {}
    for rank, text in enumerate(TEXTS, 1):
        doc = Document(id=f"doc{rank}", title=f"Article {rank}", text="Lead paragraph here.\n\n" + text + "\n\nEnd.")
        start = doc.text.index(text)
        passage = Passage(doc_id=doc.id, start=start, end=start + len(text), text=text)
        hits.append(Hit(rank=rank, passage=passage, title=doc.title, scores=SCORES))
        docs[doc.id] = doc
    table = SentenceTable.build([h.passage for h in hits], docs, encoder or FakeEncoder(), batch_size=8)
    return build_prompt("What happened?", hits, docs, Settings().answers, COUNT), docs, table


class Recording(FakeEncoder):
    """A fake encoder that remembers every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Vectors:
        self.seen.extend(texts)
        return super().encode(texts, batch_size=batch_size)


def test_markers_forms() -> None:
    found = markers("a [1] b [1, 3] c [2-4] d [1][2] e [ 7 ] f [2–3] g [1 and 2]")
    assert [ns for _, _, ns in found] == [[1], [1, 3], [2, 3, 4], [1], [2], [7], [2, 3], [1, 2]]
    assert markers("[2024] is no citation? it is three digits max") == []
    assert markers("no markers (1) here") == []


def test_supported_citation_quotes_the_document_exactly() -> None:
    prompt, docs, table = setup()
    checked = check("The BYC held a massive rally in Dalbandin in early 2025 [1].", prompt, table)
    (c,) = checked.citations
    assert (c.n, c.doc_id, c.title, c.supported) == (1, "doc1", "Article 1", True)
    assert docs[c.doc_id].text[c.start : c.end] == c.quote
    assert c.quote == "In early 2025, the BYC held a massive protest rally in Dalbandin."
    assert c.claim == "The BYC held a massive rally in Dalbandin in early 2025"
    assert checked.grounded and checked.invalid == () and checked.uncited == 0
    assert checked.text == "The BYC held a massive rally in Dalbandin in early 2025 [1]."


def test_marker_after_the_full_stop_belongs_to_the_sentence() -> None:
    prompt, _, table = setup()
    checked = check("Thousands of people attended the rally. [1] A curfew was declared in Turbat. [3]", prompt, table)
    assert [(c.n, c.supported) for c in checked.citations] == [(1, True), (3, True)]
    assert checked.citations[1].quote == "A curfew was declared in Turbat."
    assert checked.uncited == 0 and checked.grounded


def test_invalid_markers_are_removed_and_reported() -> None:
    prompt, _, table = setup()
    checked = check(
        "The rally was held in Dalbandin [1, 7]. Roads were closed [9]. Thousands attended [0][1].", prompt, table
    )
    assert checked.invalid == (0, 7, 9)
    assert checked.text == "The rally was held in Dalbandin [1]. Roads were closed. Thousands attended [1]."
    assert [c.n for c in checked.citations] == [1, 1]
    assert checked.uncited == 1
    assert not checked.grounded  # a marker pointed at no passage


def test_changed_figure_or_name_is_not_supported() -> None:
    prompt, _, table = setup()
    assert check("Officials said 12 people were killed in the attack on the convoy [2].", prompt, table).grounded
    wrong_number = check("Officials said 21 people were killed in the attack on the convoy [2].", prompt, table)
    assert not wrong_number.citations[0].supported and not wrong_number.grounded
    wrong_place = check(
        "Officials said 12 people were killed in the attack on the convoy near Karachi [2].", prompt, table
    )
    assert not wrong_place.citations[0].supported


def test_wrong_passage_is_not_supported() -> None:
    prompt, _, table = setup()
    checked = check("In early 2025, the BYC held a massive protest rally in Dalbandin [2].", prompt, table)
    assert not checked.citations[0].supported and not checked.grounded


def test_disagreeing_sources_each_cited_in_one_sentence() -> None:
    prompt, _, table = setup()
    text = "Officials said 12 people were killed in the convoy attack [2], while hospital staff said it killed 15 [3]."
    checked = check(text, prompt, table)
    assert [(c.n, c.supported) for c in checked.citations] == [(2, True), (3, True)]
    assert checked.grounded


def test_several_markers_for_one_claim() -> None:
    prompt, _, table = setup()
    checked = check("The attack on the convoy near Quetta killed people [2][3].", prompt, table)
    assert [c.n for c in checked.citations] == [2, 3]
    assert all(c.supported for c in checked.citations)
    one_of_two = check("A curfew was declared in Turbat [1, 3].", prompt, table)
    assert [(c.n, c.supported) for c in one_of_two.citations] == [(1, False), (3, True)]
    assert one_of_two.grounded  # the claim is supported by one of the passages it cites


def test_no_citation_is_not_grounded() -> None:
    prompt, _, table = setup()
    checked = check(NO_ANSWER, prompt, table)
    assert checked.citations == () and checked.uncited == 1 and not checked.grounded
    assert checked.text == NO_ANSWER
    assert not check("", prompt, table).grounded


def test_uncited_linking_sentences_are_counted() -> None:
    prompt, _, table = setup()
    checked = check(
        "Reports differ. Officials said 12 people were killed in the attack on the convoy [2].", prompt, table
    )
    assert checked.uncited == 1 and checked.grounded


def test_only_the_claims_are_embedded() -> None:
    recording = Recording()
    prompt, _, table = setup(recording)
    recording.seen.clear()
    text = "Officials said 12 people were killed in the attack on the convoy [2]. Thousands attended the rally [1]."
    checked = check(text, prompt, table, recording)
    assert sorted(recording.seen) == sorted(c.claim for c in checked.citations)
    assert all(c.supported for c in checked.citations)


def test_a_passage_without_indexed_sentences_is_judged_whole() -> None:
    text = "Curfew in Turbat. Roads closed."  # no sentence of MIN_WORDS words: nothing in the sentence table
    doc = Document(id="d", title="Turbat", text=text)
    hit = Hit(rank=1, passage=Passage(doc_id="d", start=0, end=len(text), text=text), title="Turbat", scores=SCORES)
    recording = Recording()
    table = SentenceTable.build([hit.passage], {"d": doc}, recording, batch_size=8)
    assert table.spans == []
    prompt = build_prompt("What happened?", [hit], {"d": doc}, Settings().answers, COUNT)
    for encoder in (None, recording):
        (c,) = check("A curfew was declared in Turbat [1].", prompt, table, encoder).citations
        assert (c.start, c.end, c.quote) == (0, len(text), text)
    assert recording.seen == ["A curfew was declared in Turbat", text]


def test_threshold_override() -> None:
    prompt, _, table = setup()
    text = "The BYC held a rally that many people attended [1]."
    assert check(text, prompt, table, threshold=0.0).grounded
    assert not check(text, prompt, table, threshold=1.01).grounded
    assert 0 < LEXICAL_THRESHOLD < 1 and 0 < COMBINED_THRESHOLD < 1


def test_with_the_encoder_paraphrase_and_wrong_passage(encoder: SentenceEncoder) -> None:
    prompt, docs, table = setup(encoder)
    checked = check("Dalbandin was the site of a huge BYC protest in early 2025 [1].", prompt, table, encoder)
    (c,) = checked.citations
    assert c.supported and checked.grounded
    assert docs[c.doc_id].text[c.start : c.end] == c.quote
    wrong = check("Dalbandin was the site of a huge BYC protest in early 2025 [3].", prompt, table, encoder)
    assert not wrong.citations[0].supported


@pytest.mark.parametrize(
    "question",
    [
        "Where did the BYC stage its big rally in early 2025?",
        "How many Baloch fighters were killed in last year's insurgent operations?",
        "Who heads the BNP?",
    ],
)
def test_extractive_answers_check_as_grounded(engine: Engine, question: str) -> None:
    answer = engine.ask(question, top_k=5)
    assert answer.answerable
    prompt = build_prompt(
        question, list(answer.hits), engine.index.documents, engine.settings.answers, COUNT, extract=answer.answer
    )
    assert [h.rank for h in prompt.passages] == [1, 2, 3, 4, 5]
    checked = check(answer.answer, prompt, engine.index.sentences, engine.encoder)
    assert checked.grounded, checked
    assert {c.n for c in checked.citations} == {c.n for c in answer.citations}
    for c in checked.citations:
        assert engine.index.documents[c.doc_id].text[c.start : c.end] == c.quote

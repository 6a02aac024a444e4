"""The JSON shapes of the service: requests, answers, documents; one conversion each, shared by HTTP and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import msgspec

from qa.base.records import Answer, Citation, Document, Filter, Hit, Scores, Turn

if TYPE_CHECKING:
    from qa.base.settings import Settings
    from qa.store.manifest import Manifest

SCORE_DIGITS = 6
S = TypeVar("S", bound=msgspec.Struct)
QUESTION = msgspec.Meta(
    min_length=1,
    description="The question; not blank, and at most QA_MAX_QUESTION_CHARS characters (default 1000) once stripped.",
    examples=["What happened in that town in August 2018?"],
)
TOP_K = msgspec.Meta(
    ge=1,
    description="How many passages to retrieve: at most QA_MAX_TOP_K (default 50); null: QA_DEFAULT_TOP_K (default 5).",
    examples=[5],
)
MODEL = msgspec.Meta(
    description="A language model from the server's allow-list (QA_LLM_ALLOWED; GET /v1/models); null: QA_LLM_MODEL.",
    examples=["extractive"],
)
HISTORY = msgspec.Meta(
    description="The conversation so far, oldest first: the user's earlier questions and the answers received, as "
    "OpenAI chat messages; at most QA_MAX_HISTORY_TURNS turns (default 20) and QA_MAX_HISTORY_CHARS characters "
    "(default 20000) in all. A follow-up question is made self-contained from it before retrieval, and the answer "
    "prefers sentences an earlier answer has not quoted.",
    examples=[
        [
            {"role": "user", "content": "Where did the BYC hold a big rally in early 2025?"},
            {"role": "assistant", "content": "In early 2025, the BYC held a massive protest rally in Dalbandin. [1]"},
        ]
    ],
)


class Message(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One earlier turn of a conversation: the user's question or the assistant's answer (``[n]`` markers and a
    trailing ``Sources:`` list are ignored)."""

    role: Literal["user", "assistant"]
    content: str


class AskRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Body of ``POST /ask``: ``model`` picks a language model from the server's allow-list (default: the
    deployment's, ``extractive`` unless configured); ``stream`` asks for Server-Sent Events instead of one JSON body;
    ``filter`` limits the articles drawn on; ``recency`` prefers newer articles among nearly equal passages;
    ``history`` holds the conversation's earlier turns, from which a follow-up question is made self-contained.
    """

    question: Annotated[str, QUESTION]
    top_k: Annotated[int, TOP_K] | None = None
    explain: bool = False
    model: Annotated[str, MODEL] | None = None
    stream: bool = False
    filter: Filter | None = None
    recency: bool = False
    history: Annotated[list[Message], HISTORY] = []

    def turns(self) -> list[Turn]:
        """The history as the engine takes it."""
        return [Turn(role=m.role, text=m.content) for m in self.history]


class Health(msgspec.Struct):
    """Body of ``GET /healthz``."""

    status: str


class Readiness(msgspec.Struct, kw_only=True):
    """Body of ``GET /readyz`` once the engine is loaded; ``pid`` is the process that answered (which worker)."""

    status: str
    documents: int
    passages: int
    model: str
    generation: str
    revision: int = 0
    pid: int = 0


class ScoresOut(msgspec.Struct, kw_only=True):
    """How a passage was scored (``explain`` only): ``dense`` cosine similarity, ``keyword`` BM25, ``sentence``
    its best sentence's cosine scaled to 0..1 (added to convex fusion with ``sentence_weight``), the ``fused``
    score that ranks the passages (equal to ``score``), and ``rerank``, the reranker's score (null: no reranker).

    ``dense``, ``keyword`` or ``sentence`` is null when that signal did not score the passage.
    """

    dense: float | None
    keyword: float | None
    sentence: float | None
    fused: float
    rerank: float | None


class Explain(msgspec.Struct, kw_only=True):
    """The settings that produced the scores (``explain`` only).

    ``fusion`` ("convex" or "rrf"), ``dense_weight``, ``keyword_weight``, ``sentence_weight`` (convex only) and
    ``rrf_k`` (rrf only) combine the two retrievers, each proposing up to ``candidates`` passages, and the
    best-sentence signal; ``bm25_k1`` and ``bm25_b`` shape the keyword scores; ``reranker`` (null when off)
    reorders the first ``rerank_depth`` fused passages; ``chunk_tokens``,
    ``chunk_overlap``, ``embed_title``, ``model`` and ``embed_backend`` ("torch" or "onnx") are those the index was
    built with, and ``index_generation`` names that build; ``abstain_threshold`` is the ``confidence`` below which the
    service abstains; ``dense_index`` ("flat" or "ivfpq") and ``dense_recall_at_10`` (against flat, measured at
    build) describe the index's dense part.
    """

    fusion: str
    dense_weight: float
    keyword_weight: float
    sentence_weight: float
    rrf_k: int
    candidates: int
    bm25_k1: float
    bm25_b: float
    reranker: str | None
    rerank_depth: int
    chunk_tokens: int
    chunk_overlap: int
    embed_title: bool
    model: str
    embed_backend: str
    index_generation: str
    abstain_threshold: float
    dense_index: str = "flat"
    dense_recall_at_10: float = 1.0


class PassageOut(msgspec.Struct, kw_only=True):
    """A retrieved passage: ``document.text[start:end] == text`` exactly; ``score`` is its fused score.

    ``scores`` is absent (never null) unless the request asked to ``explain``.
    """

    rank: int
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    scores: ScoresOut | msgspec.UnsetType = msgspec.UNSET


class AskResponse(msgspec.Struct, kw_only=True):
    """Answer to a question, with its citations and the passages it was drawn from.

    ``confidence`` is in [0, 1]: how sure the best sentence answers the question (its similarity to the question,
    the question's terms found in the passages, and whether it holds the expected kind of answer); below the
    ``abstain_threshold`` setting the service abstains, so ``answerable`` is false and ``reason`` says why
    ("no_relevant_passage", or "model_declined" when the language model said the passages do not answer it);
    ``reason`` is null when ``answerable`` is true. ``explain`` is absent (never null)
    unless the request asked for it.

    ``model`` wrote ``answer``, whose ``[n]`` markers cite ``passages`` by rank; each of ``citations`` gives the
    exact slice of the article (``text[start:end] == quote``), whether it ``supported`` the claim, and its
    ``answer_span``: the short answer inside the quote (``text[answer_span.start:answer_span.end]``, within
    ``start..end``), or null when none was found. ``grounded``
    is true only when there is a citation and every cited claim is supported. ``invalid_citations`` are markers
    the model wrote that pointed at no passage (removed from ``answer``); ``flagged_passages`` were fenced as
    possible instructions to a model; ``dropped_passages`` did not fit the model's context budget (none for the
    extractive model, which reads no context).
    """

    question: str
    answerable: bool
    answer: str
    confidence: float
    reason: str | None
    model: str
    grounded: bool
    citations: list[Citation]
    invalid_citations: list[int]
    flagged_passages: list[int]
    dropped_passages: list[int]
    passages: list[PassageOut]
    timings_ms: dict[str, float]
    explain: Explain | msgspec.UnsetType = msgspec.UNSET


class DocumentSummary(msgspec.Struct, kw_only=True):
    """One article in the listing."""

    id: str
    title: str
    author: str | None
    date: str | None
    length: int
    source: str | None = None
    url: str | None = None
    added_at: str | None = None
    updated_at: str | None = None
    duplicate_of: str | None = None


class DocumentOut(DocumentSummary, kw_only=True):
    """One article with its full text; passage and citation offsets index into ``text``."""

    text: str


def shape(source: object, kind: type[S], /, **given: Any) -> S:
    """A ``kind`` whose fields are taken by name from ``source``, except those ``given`` (UNSET: the default)."""
    values = {name: getattr(source, name) for name in kind.__struct_fields__ if hasattr(source, name)}
    values.update(given)
    return msgspec.convert({k: v for k, v in values.items() if v is not msgspec.UNSET}, kind)


def explain_info(settings: Settings, manifest: Manifest, threshold: float) -> Explain:
    """The search settings and the index build behind an engine's scores."""
    return Explain(
        fusion=settings.search.fusion,
        dense_weight=settings.search.dense_weight,
        keyword_weight=settings.search.keyword_weight,
        sentence_weight=settings.search.sentence_weight,
        rrf_k=settings.search.rrf_k,
        candidates=settings.search.candidates,
        bm25_k1=manifest.bm25_k1,
        bm25_b=manifest.bm25_b,
        reranker=settings.search.reranker or None,
        rerank_depth=settings.search.rerank_depth,
        chunk_tokens=manifest.chunk_tokens,
        chunk_overlap=manifest.chunk_overlap,
        embed_title=manifest.embed_title,
        model=manifest.model,
        embed_backend="onnx" if ":onnx-int8" in manifest.model_sha256 else "torch",
        index_generation=manifest.generation,
        abstain_threshold=threshold,
        dense_index=manifest.dense.kind,
        dense_recall_at_10=manifest.dense.recall_at_10,
    )


def scores_out(scores: Scores) -> ScoresOut:
    """The wire shape of a hit's scores, rounded as ``score`` is."""
    return shape(scores, ScoresOut, **{f: _round(getattr(scores, f)) for f in ScoresOut.__struct_fields__})


def unset_if_none(value: Explain | None) -> Explain | msgspec.UnsetType:
    """``value``, or UNSET (the field left out) for None."""
    return msgspec.UNSET if value is None else value


def _round(value: float | None) -> float | None:
    """A score rounded to SCORE_DIGITS places; None stays None."""
    return None if value is None else round(value, SCORE_DIGITS)


def passage_out(hit: Hit, explain: Explain | None = None) -> PassageOut:
    """The wire shape of a retrieved passage; with ``explain`` it carries its scores."""
    scores = msgspec.UNSET if explain is None else scores_out(hit.scores)
    return shape(hit.passage, PassageOut, rank=hit.rank, title=hit.title, score=_round(hit.scores.fused), scores=scores)


def passages_out(hits: Sequence[Hit], explain: Explain | None = None) -> list[PassageOut]:
    """The wire shape of retrieved passages; with ``explain`` each carries its scores."""
    return [passage_out(hit, explain) for hit in hits]


def ask_response(answer: Answer, *, explain: Explain | None = None) -> AskResponse:
    """The wire shape of an Answer; with ``explain`` (see ``explain_info``) it also carries every score."""
    return shape(answer, AskResponse, passages=passages_out(answer.hits, explain), explain=unset_if_none(explain))


def document_summary(doc: Document) -> DocumentSummary:
    """The listing entry of a document."""
    return shape(doc, DocumentSummary)


def document_out(doc: Document) -> DocumentOut:
    """A document with its full text."""
    return shape(doc, DocumentOut)

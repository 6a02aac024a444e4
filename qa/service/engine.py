"""The engine: the one object the edges use to open an index, ask questions and read documents."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from qa.answers import extractive as answer
from qa.answers.generation import final_answer, generate
from qa.answers.prompt import NO_ANSWER
from qa.answers.question import standalone
from qa.base.errors import ConfigError, InvalidInput, ModelUnavailable, NotFound
from qa.base.records import Answer, Document, Draft, Event, Hit
from qa.base.settings import Settings
from qa.models.interface import LanguageModel
from qa.models.registry import choose_model
from qa.retrieval.rerank import Reranker, open_reranker, rerank
from qa.retrieval.search import search
from qa.service import lifecycle
from qa.service.wire import Explain, Readiness, explain_info
from qa.store.chunking import token_counter
from qa.store.embedding import Encoder, Vectors
from qa.store.index import Index
from qa.store.manifest import Manifest

__all__ = ["NO_RELEVANT_PASSAGE", "Encoder", "Engine", "Manifest", "Progress"]

NO_RELEVANT_PASSAGE = "no_relevant_passage"
Progress = Callable[[str], None]


class Engine:
    """Answers questions over one loaded index with one embedding model."""

    def __init__(self, settings: Settings, encoder: Encoder, index: Index, *, reranker: Reranker | None = None) -> None:
        self.settings = settings
        self.encoder = encoder
        self.index = index
        self.reranker = reranker
        self._models: dict[str, LanguageModel] = {}
        self._count = token_counter(settings.build.encoding)

    @classmethod
    def open(
        cls,
        settings: Settings,
        encoder: Encoder | None = None,
        *,
        build: bool = False,
        progress: Progress | None = None,
    ) -> Engine:
        """Open the index the settings name with its model and reranker (``build``: build it first if missing or stale).

        What can be checked without the model (an index to open, a folder to write) is checked before it loads,
        and the reranker (``QA_RERANKER``) opens first: a bad one fails before the embedding model loads.
        """
        lifecycle.check_before_loading(settings, build=build)
        reranker = open_reranker(settings.search)
        encoder = encoder or lifecycle.open_encoder(settings, progress)
        index = lifecycle.ensure(settings, encoder, progress) if build else lifecycle.load(settings, encoder)
        return cls(settings, encoder, index, reranker=reranker)

    @staticmethod
    def build(settings: Settings, encoder: Encoder | None = None, *, progress: Progress | None = None) -> Manifest:
        """(Re)build the index of the corpus the settings name, atomically; its manifest says what was built.

        The corpus is read first: a bad file or document id fails before the model loads.
        """
        lifecycle.check_before_loading(settings, build=True, rebuild=True)
        read = lifecycle.corpus(settings)
        encoder = encoder or lifecycle.open_encoder(settings, progress)
        return lifecycle.build(settings, encoder, progress, read=read).manifest

    @staticmethod
    def catalogue(settings: Settings) -> list[Document]:
        """The documents of the index the settings name, by id, read without loading any model."""
        return sorted(lifecycle.documents(settings), key=lambda d: d.id)

    def ask(
        self, question: str, top_k: int | None = None, model: str | None = None, *, earlier: Sequence[str] = ()
    ) -> Answer:
        """Retrieve the best passages for a question and answer it from them with a model, or abstain."""
        return final_answer(self.stream(question, top_k, model, earlier=earlier))

    def stream(
        self, question: str, top_k: int | None = None, model: str | None = None, *, earlier: Sequence[str] = ()
    ) -> Iterator[Event]:
        """Check the request and retrieve at once (errors raise here), then stream the answer's events.

        ``earlier`` are the user's previous questions in a conversation: a short follow-up ("and when?") is asked
        together with the last of them. Limits apply to ``question``, what the user sent now.
        """
        chosen = self.language_model(model)
        asked = standalone(self.check_question(question), [q.strip() for q in earlier])
        draft = self.draft(asked, top_k)
        return generate(draft, chosen, self.index, self.settings.answers, self._count, self.encoder)

    def explain(self) -> Explain:
        """The search settings and the index build behind this engine's scores."""
        return explain_info(self.settings, self.index.manifest)

    def language_model(self, name: str | None = None) -> LanguageModel:
        """A model by name (None: the deployment's), if the allow-list permits it; built once per name."""
        key = self.settings.models.llm_model if name is None else name
        if key not in self._models:
            try:
                self._models[key] = choose_model(key, self.settings.models)
            except ConfigError as exc:
                raise ModelUnavailable(f"language model {key!r} is not usable on this server: {exc}") from exc
        return self._models[key]

    def draft(self, question: str, top_k: int | None = None) -> Draft:
        """Retrieve the best passages and the extractive answer over them (with any disagreement shown), or abstain."""
        k = self.check_top_k(top_k)
        clock = time.perf_counter()
        query_vector = self.encoder.encode([question])[0]
        embed_ms, clock = _ms(clock), time.perf_counter()
        hits = self.retrieve(question, query_vector, k)
        search_ms, clock = _ms(clock), time.perf_counter()
        ranked = answer.candidates(question, query_vector, hits, self.index)
        conf = answer.confidence(question, ranked, hits, self.index.keyword)
        answerable = bool(hits) and conf >= self.settings.answers.abstain_threshold
        if answerable:
            text, citations = answer.compose(
                answer.choose(ranked, self.settings.answers.answer_sentences), self.index.documents
            )
            text, citations = answer.with_disagreement(text, citations, hits, self.index)
            reason = None
        else:
            text, citations = NO_ANSWER, ()
            reason = NO_RELEVANT_PASSAGE
        return Draft(
            question=question,
            hits=tuple(hits),
            answerable=answerable,
            confidence=round(conf, 4),
            reason=reason,
            extract=text,
            citations=citations,
            embed_ms=embed_ms,
            search_ms=search_ms,
            answer_ms=_ms(clock),
        )

    def retrieve(self, question: str, query_vector: Vectors, k: int) -> list[Hit]:
        """The top ``k`` passages: hybrid search, then the reranker over its first ``rerank_depth`` when one is set."""
        if self.reranker is None:
            return search(self.index, question, query_vector, self.settings.search, k)
        depth = self.settings.search.rerank_depth
        hits = search(self.index, question, query_vector, self.settings.search, max(k, depth))
        return rerank(hits, question, self.reranker, depth)[:k]

    def check_question(self, question: str) -> str:
        """The question stripped, or InvalidInput saying what is wrong with it."""
        text = question.strip()
        if not text:
            raise InvalidInput('question is empty; send the question text in the "question" field')
        limit = self.settings.answers.max_question_chars
        if len(text) > limit:
            raise InvalidInput(f"question is {len(text)} characters long; the limit is {limit}: shorten it")
        return text

    def check_top_k(self, top_k: int | None) -> int:
        """``top_k`` as an int within 1..max_top_k (default when None), or InvalidInput."""
        if top_k is None:
            return self.settings.answers.default_top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= self.settings.answers.max_top_k:
            raise InvalidInput(
                f"top_k must be a whole number from 1 to {self.settings.answers.max_top_k}, got {top_k!r}"
            )
        return top_k

    def readiness(self) -> Readiness:
        """What a ready engine serves: documents, passages, model and index build."""
        return Readiness(
            status="ready",
            documents=len(self.index.documents),
            passages=len(self.index.passages),
            model=self.encoder.name,
            generation=self.index.manifest.generation,
        )

    def models(self) -> tuple[str, ...]:
        """The language models this deployment allows, by name."""
        return self.settings.models.allowed

    def documents(self) -> list[Document]:
        """All documents in the index, by id."""
        return sorted(self.index.documents.values(), key=lambda d: d.id)

    def document(self, doc_id: str) -> Document:
        """One document by id, or NotFound listing how to find the ids."""
        try:
            return self.index.documents[doc_id]
        except KeyError:
            raise NotFound(f"no document with id {doc_id!r}; GET /documents lists the ids") from None


def _ms(since: float) -> float:
    """Milliseconds elapsed since a perf_counter reading."""
    return round((time.perf_counter() - since) * 1000, 3)

"""The question-answering library entry point: validate, retrieve, answer, time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from qa import answer
from qa.config import Settings
from qa.embedding import Encoder, Vectors, open_encoder
from qa.errors import ConfigError, InvalidInput, ModelUnavailable, NotFound
from qa.generation import Event, final_answer, generate
from qa.index import Index, load, read_manifest
from qa.llm import LanguageModel, choose_model
from qa.prompt import NO_ANSWER
from qa.records import Answer, Document, Hit
from qa.rerank import Reranker, open_reranker, rerank
from qa.search import search

NO_RELEVANT_PASSAGE = "no_relevant_passage"


class Engine:
    """Answers questions over one loaded index with one embedding model."""

    def __init__(
        self, settings: Settings, encoder: Encoder, index: Index, *, reranker: Reranker | None = None
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.index = index
        self.reranker = reranker
        self._models: dict[str, LanguageModel] = {}

    @classmethod
    def open(cls, settings: Settings, encoder: Encoder | None = None) -> Engine:
        """Load the model (unless given), the reranker if one is set, and the index named by the settings."""
        read_manifest(settings.index_dir)
        encoder = encoder or open_encoder(settings)
        index = load(settings.index_dir, settings, encoder)
        return cls(settings, encoder, index, reranker=open_reranker(settings))

    def ask(self, question: Any, top_k: Any = None, model: Any = None) -> Answer:
        """Retrieve the best passages for a question and answer it from them with a model, or abstain."""
        return final_answer(self.stream(question, top_k, model))

    def stream(self, question: Any, top_k: Any = None, model: Any = None) -> Iterator[Event]:
        """Check the request and retrieve at once (errors raise here), then stream the answer's events."""
        chosen = self.language_model(model)
        draft = self.draft(question, top_k)
        return generate(draft, chosen, self.index.documents, self.settings, self.encoder)

    def language_model(self, name: Any = None) -> LanguageModel:
        """A model by name (None: the deployment's), if the allow-list permits it; built once per name."""
        if name is not None and not isinstance(name, str):
            raise InvalidInput(f'model must be a string naming a model, e.g. "extractive", got {name!r}')
        key = self.settings.llm_model if name is None else name
        if key not in self._models:
            try:
                self._models[key] = choose_model(key, self.settings)
            except ConfigError as exc:
                raise ModelUnavailable(f"language model {key!r} is not usable on this server: {exc}") from exc
        return self._models[key]

    def draft(self, question: Any, top_k: Any = None) -> Answer:
        """Retrieve the best passages and the extractive answer over them (with any disagreement shown), or abstain."""
        question = self.check_question(question)
        k = self.check_top_k(top_k)
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        query_vector = self.encoder.encode([question])[0]
        timings["embed"] = _ms(clock)
        clock = time.perf_counter()
        hits = self.retrieve(question, query_vector, k)
        timings["search"] = _ms(clock)
        clock = time.perf_counter()
        ranked = answer.candidates(question, query_vector, hits, self.index)
        conf = answer.confidence(question, ranked, hits, self.index.keyword)
        answerable = bool(hits) and conf >= self.settings.abstain_threshold
        if answerable:
            text, citations = answer.compose(
                answer.choose(ranked, self.settings.answer_sentences), self.index.documents
            )
            text, citations = answer.with_disagreement(text, citations, hits, self.index.documents)
            reason = None
        else:
            text, citations = NO_ANSWER, ()
            reason = NO_RELEVANT_PASSAGE
        timings["answer"] = _ms(clock)
        timings["total"] = round(sum(timings.values()), 3)
        return Answer(
            question=question,
            answerable=answerable,
            answer=text,
            confidence=round(conf, 4),
            reason=reason,
            citations=citations,
            hits=tuple(hits),
            timings_ms=timings,
            grounded=answerable and bool(citations),
        )

    def retrieve(self, question: str, query_vector: Vectors, k: int) -> list[Hit]:
        """The top ``k`` passages: hybrid search, then the reranker over its first ``rerank_depth`` when one is set."""
        if self.reranker is None:
            return search(self.index, question, query_vector, self.settings, k)
        depth = self.settings.rerank_depth
        hits = search(self.index, question, query_vector, self.settings, max(k, depth))
        return rerank(hits, question, self.reranker, depth)[:k]

    def check_question(self, question: Any) -> str:
        """The question stripped, or InvalidInput saying what is wrong with it."""
        if not isinstance(question, str):
            raise InvalidInput('question must be a string, e.g. {"question": "Who led the march?"}')
        text: str = question.strip()
        if not text:
            raise InvalidInput('question is empty; send the question text in the "question" field')
        if len(text) > self.settings.max_question_chars:
            raise InvalidInput(
                f"question is {len(text)} characters long; the limit is {self.settings.max_question_chars}: shorten it"
            )
        return text

    def check_top_k(self, top_k: Any) -> int:
        """``top_k`` as an int within 1..max_top_k (default when None), or InvalidInput."""
        if top_k is None:
            return self.settings.default_top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= self.settings.max_top_k:
            raise InvalidInput(f"top_k must be a whole number from 1 to {self.settings.max_top_k}, got {top_k!r}")
        return top_k

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

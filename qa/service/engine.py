"""The engine: the one object the edges use to open an index, ask questions and read documents."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from qa.answers import decision
from qa.answers import extractive as answer
from qa.answers.conversation import check_history, fresh, standalone
from qa.answers.generation import final_answer, generate
from qa.answers.prompt import NO_ANSWER
from qa.answers.signals import Focus
from qa.base.errors import ConfigError, ModelUnavailable, NotFound
from qa.base.records import Answer, Document, Draft, Event, Filter, Hit, Turn
from qa.base.settings import Settings
from qa.models.interface import LanguageModel
from qa.models.registry import choose_model
from qa.retrieval.rerank import Reranker, open_reranker, rerank
from qa.retrieval.search import KeywordFound, keyword_found, search
from qa.service import lifecycle
from qa.service.scope import admitted, freshness, with_copies
from qa.service.submissions import check_filter, check_question, check_top_k
from qa.service.wire import Explain, Readiness, explain_info
from qa.service.writes import Writes
from qa.store.archive import Archive
from qa.store.chunking import token_counter
from qa.store.embedding import Encoder, Vectors
from qa.store.index import Index, Mask
from qa.store.manifest import Manifest

__all__ = ["NO_RELEVANT_PASSAGE", "Encoder", "Engine", "Manifest", "Progress", "final_answer"]

NO_RELEVANT_PASSAGE = "no_relevant_passage"
Progress = Callable[[str], None]
# Threads doing a request's work that does not wait for the rest: its keyword scores while it embeds the question
# (ONNX Runtime lets go of the GIL), the keyword rows' sentences while it searches the dense index. At 1M passages,
# 4.1 + 3.2 ms -> 4.9 ms and 3.5 + 1.7 ms -> 4.2 ms; over the 80 seed passages the hand-offs cost more than the
# work they move (throughput at concurrency 16 -8%), so an index smaller than ASIDE_ROWS does it all in line
# (bench/README.md). One thread a request thread.
ASIDE_THREADS = 2
ASIDE_ROWS = 100_000


class Engine(Writes):
    """Answers questions over one loaded index with one embedding model."""

    def __init__(
        self, settings: Settings, encoder: Encoder, index: Index | Archive, *, reranker: Reranker | None = None
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.archive = index if isinstance(index, Archive) else None
        self._index = index if isinstance(index, Index) else None
        self.reranker = reranker
        self.decision = decision.load()
        self.threshold = (
            self.decision.threshold
            if settings.answers.abstain_threshold is None
            else settings.answers.abstain_threshold
        )
        self._models: dict[str, LanguageModel] = {}
        self._count = lru_cache(maxsize=8192)(token_counter(settings.build.encoding))  # passages recur in prompts
        self._aside = ThreadPoolExecutor(ASIDE_THREADS, thread_name_prefix="qa-aside")  # threads start on first use

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

    @property
    def index(self) -> Index:
        """The newest generation of the index; a request keeps the one it read first."""
        return self.archive.index if self.archive is not None else self._index  # type: ignore[return-value]

    def refresh(self) -> bool:
        """Catch up with writes made by other processes; True when the index changed."""
        return self.archive.refresh() if self.archive is not None else False

    @staticmethod
    def catalogue(settings: Settings) -> list[Document]:
        """The documents of the index the settings name, by id, read without loading any model."""
        return sorted(lifecycle.documents(settings), key=lambda d: d.id)

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        model: str | None = None,
        *,
        history: Sequence[Turn] = (),
        where: Filter | None = None,
        recency: bool = False,
    ) -> Answer:
        """Retrieve the best passages for a question and answer it from them with a model, or abstain."""
        return final_answer(self.stream(question, top_k, model, history=history, where=where, recency=recency))

    def search(
        self, question: str, top_k: int | None = None, *, where: Filter | None = None, recency: bool = False
    ) -> list[Hit]:
        """The best passages for a question, checked as ``ask`` checks it, with no answer drawn from them."""
        asked, k = check_question(question, self.settings.answers), check_top_k(top_k, self.settings.answers)
        index = self.index
        allowed = admitted(index, check_filter(where))
        query_vector, keyword = self.embedded(asked, index, allowed)
        return self.retrieve(asked, query_vector, k, index=index, allowed=allowed, recency=recency, keyword=keyword)

    def stream(
        self,
        question: str,
        top_k: int | None = None,
        model: str | None = None,
        *,
        history: Sequence[Turn] = (),
        where: Filter | None = None,
        recency: bool = False,
    ) -> Iterator[Event]:
        """Check the request and retrieve at once (errors raise here), then stream the answer's events.

        ``history`` holds the conversation's earlier turns, oldest first (see ``draft``). Limits apply to
        ``question``, what the user sent now, and to the history as a whole. ``where`` limits the documents drawn
        on; ``recency`` prefers newer articles among passages of nearly equal scores. The whole request reads one
        generation of the index, whatever writes land meanwhile.
        """
        chosen = self.language_model(model)
        asked, turns = check_question(question, self.settings.answers), check_history(history, self.settings.answers)
        index = self.index
        draft = self.draft(asked, top_k, history=turns, index=index, where=check_filter(where), recency=recency)
        return generate(draft, chosen, index, self.settings.answers, self._count, self.encoder)

    def explain(self) -> Explain:
        """The search settings and the index build behind this engine's scores."""
        return explain_info(self.settings, self.index.manifest, self.threshold)

    def language_model(self, name: str | None = None) -> LanguageModel:
        """A model by name (None: the deployment's), if the allow-list permits it; built once per name."""
        key = self.settings.models.llm_model if name is None else name
        if key not in self._models:
            try:
                self._models[key] = choose_model(key, self.settings.models)
            except ConfigError as exc:
                raise ModelUnavailable(f"language model {key!r} is not usable on this server: {exc}") from exc
        return self._models[key]

    def draft(
        self,
        question: str,
        top_k: int | None = None,
        *,
        history: Sequence[Turn] = (),
        index: Index | None = None,
        where: Filter | None = None,
        recency: bool = False,
    ) -> Draft:
        """Retrieve the best passages and the extractive answer over them (with any disagreement shown), or abstain.

        A follow-up is made self-contained from the ``history``; sentences earlier answers quoted yield to new ones.
        """
        asked, question = question, standalone(question, history)
        k = check_top_k(top_k, self.settings.answers)
        index = index or self.index
        clock = time.perf_counter()
        allowed = admitted(index, where)
        query_vector, keyword = self.embedded(question, index, allowed)
        embed_ms, clock = _ms(clock), time.perf_counter()
        hits = self.retrieve(question, query_vector, k, index=index, allowed=allowed, recency=recency, keyword=keyword)
        search_ms, clock = _ms(clock), time.perf_counter()
        analysed = Focus.of(question, index, kind_of=asked)
        ranked = answer.ranked(analysed, query_vector, hits, index, self.decision)
        ranked = fresh(answer.answering(ranked, analysed), history, asked)
        conf = answer.confidence(analysed, ranked, hits, self.decision)
        answerable = bool(hits) and conf >= self.threshold
        if answerable:
            limit = self.settings.answers.answer_sentences
            text, citations = answer.extract(question, ranked, hits, index, limit)
            citations = with_copies(citations, index)
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

    def embedded(self, question: str, index: Index, allowed: Mask | None) -> tuple[Vectors, KeywordFound | None]:
        """The question's vector and, when the index is large enough for it to pay, its keyword side over the
        ``allowed`` rows, found meanwhile in another thread (None: ``search`` finds it, after the dense search)."""
        if index.size < ASIDE_ROWS:
            return self.encoder.encode([question])[0], None
        side = self._aside.submit(keyword_found, index, question, self.settings.search, allowed)
        try:
            vector = self.encoder.encode([question])[0]
        except BaseException:
            side.cancel()
            raise
        return vector, side.result()

    def retrieve(
        self,
        question: str,
        query_vector: Vectors,
        k: int,
        *,
        index: Index | None = None,
        allowed: Mask | None = None,
        recency: bool = False,
        keyword: KeywordFound | None = None,
    ) -> list[Hit]:
        """The top ``k`` passages of the ``allowed`` rows (None: all): hybrid search (with the query's
        ``keyword`` side when already found), then the reranker over its first ``rerank_depth`` when one is set."""
        index = index or self.index
        boost = freshness(index, self.settings.search) if recency else None
        depth = k if self.reranker is None else max(k, self.settings.search.rerank_depth)
        hits = search(
            index,
            question,
            query_vector,
            self.settings.search,
            depth,
            allowed=allowed,
            boost=boost,
            keyword=keyword,
            aside=self._aside if index.size >= ASIDE_ROWS else None,
        )
        if self.reranker is None:
            return hits
        return rerank(hits, question, self.reranker, self.settings.search.rerank_depth)[:k]

    def readiness(self) -> Readiness:
        """What a ready engine serves: documents, passages, model and index build."""
        index = self.index
        return Readiness(
            status="ready",
            documents=len(index.documents),
            passages=index.live_passages,
            model=self.encoder.name,
            generation=index.manifest.generation,
            revision=index.revision,
            pid=os.getpid(),
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

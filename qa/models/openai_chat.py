"""The ``openai`` model: any server speaking the OpenAI chat-completions API, streamed, via the official client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn, cast
from urllib.parse import urlsplit, urlunsplit

import openai
from openai.types.chat import ChatCompletionMessageParam

from qa.base.errors import ConfigError, ModelError
from qa.base.settings import ModelSettings
from qa.models.interface import LanguageModel, Prompt

# The client refuses an empty key; servers without authentication ignore the header this sends.
NO_KEY = "no-key"


class OpenAIModel:
    """Streams chat completions from ``llm_base_url``; the client retries 408/409/429/5xx with backoff."""

    name = "openai"

    def __init__(self, settings: ModelSettings) -> None:
        if not settings.llm_name.strip():
            where = public_url(settings.llm_base_url)
            raise ConfigError(
                "setting llm_name (env QA_LLM_NAME) is empty: set it to the name of the model served at "
                f"{where} (GET {where.rstrip('/')}/models lists them)"
            )
        self.base_url = public_url(settings.llm_base_url)
        self.model = settings.llm_name.strip()
        self.max_tokens = settings.llm_max_tokens
        self.temperature = settings.llm_temperature
        self.timeout = settings.llm_timeout
        self.client = openai.OpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or NO_KEY,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
        )

    def __repr__(self) -> str:
        """Where and which model, never the key."""
        return f"OpenAIModel(base_url={self.base_url!r}, model={self.model!r})"

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """Content deltas of a streamed chat completion; ModelError if it cannot start or breaks off."""
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        try:
            chunks = self.client.chat.completions.create(
                model=self.model,
                messages=cast(list[ChatCompletionMessageParam], messages),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stream=True,
            )
        except openai.OpenAIError as exc:
            self._fail(exc)
        finished = False
        try:
            with chunks:
                for chunk in chunks:
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        if choice.delta is not None and choice.delta.content:
                            yield choice.delta.content
                        finished = finished or choice.finish_reason is not None
        except openai.APIConnectionError as exc:  # timeouts included
            raise ModelError(
                f"the language model at {self.base_url} broke off its answer ({_reason(exc)}); try again"
            ) from exc
        except openai.OpenAIError as exc:
            self._fail(exc)
        if not finished:
            raise ModelError(
                f"the language model at {self.base_url} ended its answer without finishing it "
                "(the stream closed before a finish reason); try again"
            )

    def _fail(self, exc: openai.OpenAIError) -> NoReturn:
        """Raise the ModelError that says what went wrong and which setting to check."""
        where = f"the language model at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            raise ModelError(
                f"{where} did not answer within {self.timeout:g} s; raise QA_LLM_TIMEOUT or check the server"
            ) from exc
        if isinstance(exc, openai.APIConnectionError):
            raise ModelError(
                f"cannot reach {where} ({_reason(exc)}); check QA_LLM_BASE_URL or start the server"
            ) from exc
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            raise ModelError(f"{where} refused the credentials (HTTP {exc.status_code}); check QA_LLM_API_KEY") from exc
        if isinstance(exc, openai.NotFoundError):
            raise ModelError(
                f"{where} does not serve model {self.model!r} (HTTP 404); check QA_LLM_NAME and QA_LLM_BASE_URL"
            ) from exc
        if isinstance(exc, openai.APIStatusError):
            raise ModelError(
                f"{where} answered HTTP {exc.status_code}; see that server's log, and check QA_LLM_BASE_URL and "
                "QA_LLM_NAME"
            ) from exc
        raise ModelError(f"{where} failed ({type(exc).__name__}); check QA_LLM_BASE_URL and the server") from exc


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure: the system's words (``[Errno 111] Connection refused``), or its
    type alone, since other errors (a protocol error quoting the upstream's bytes) may carry the server's text."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    if isinstance(exc, OSError) and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}" if exc.errno is not None else exc.strerror
    return type(exc).__name__


def public_url(url: str) -> str:
    """The URL without credentials or query (``http://user:key@host/v1?k=…`` -> ``http://host/v1``), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def factory(settings: ModelSettings) -> LanguageModel:
    """Build the openai model from the ``llm_*`` settings (the ``articleqa.models`` entry point)."""
    return OpenAIModel(settings)

"""One error tree for the library: each error has a ``kind``; every edge maps kinds to its protocol once."""

from __future__ import annotations

from typing import ClassVar


class QAError(Exception):
    """Base of every expected failure; the message says what to do about it."""

    kind: ClassVar[str] = "internal"


class InvalidInput(QAError):
    """The caller sent something the service cannot use."""

    kind = "invalid-input"


class NotFound(QAError):
    """A named thing (document, model) does not exist."""

    kind = "not-found"


class ConfigError(QAError):
    """A setting has a bad value."""

    kind = "config-error"


class LockRefused(ConfigError):
    """The system refused to lock the index in memory (QA_LOCK_INDEX): its locked-memory limit, or no memory."""


class CorpusError(QAError):
    """The corpus folder or one of its files cannot be read."""

    kind = "corpus-error"


class IndexMissing(QAError):
    """No index has been built where one was expected."""

    kind = "index-missing"


class IndexMismatch(QAError):
    """The index on disk was built with another model, corpus or format."""

    kind = "index-mismatch"


class IndexBusy(QAError):
    """Another process holds the index folder's lock (a build is running)."""

    kind = "index-busy"


class Conflict(QAError):
    """A write that contradicts what the archive holds (an id taken by other content); the message says how to fix."""

    kind = "conflict"


class NotReady(QAError):
    """The service is still loading its model and index."""

    kind = "not-ready"


class ModelError(QAError):
    """The language model server failed, could not be reached, or broke off its answer."""

    kind = "model-error"


class ModelUnavailable(QAError):
    """A language model the allow-list names cannot be used on this server as configured."""

    kind = "model-unavailable"


class ModelNotFound(NotFound):
    """A language model asked for by name is not served here."""

    kind = "model-not-found"


class Unauthorized(QAError):
    """The request needs an API key and sent none, or one that is not valid."""

    kind = "unauthorized"


class Forbidden(QAError):
    """The request is refused whatever key it sends (writes on a server with no API key configured)."""

    kind = "forbidden"


class RateLimited(QAError):
    """The caller sent more requests than the rate limit allows; ``retry_after`` seconds until it may again."""

    kind = "rate-limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

"""One error tree for the library; app and CLI map it to HTTP statuses and exit codes once."""

from __future__ import annotations


class QAError(Exception):
    """Base of every expected failure; the message says what to do about it."""

    status = 500
    title = "Internal error"


class InvalidInput(QAError):
    """The caller sent something the service cannot use."""

    status = 400
    title = "Invalid input"


class NotFound(QAError):
    """A named thing (document, model) does not exist."""

    status = 404
    title = "Not found"


class ConfigError(QAError):
    """A setting has a bad value."""

    status = 500
    title = "Configuration error"


class CorpusError(QAError):
    """The corpus folder or one of its files cannot be read."""

    status = 500
    title = "Corpus error"


class IndexMissing(QAError):
    """No index has been built where one was expected."""

    status = 503
    title = "Index missing"


class IndexMismatch(QAError):
    """The index on disk was built with another model, corpus or format."""

    status = 503
    title = "Index mismatch"


class NotReady(QAError):
    """The service is still loading its model and index."""

    status = 503
    title = "Not ready"


class ModelError(QAError):
    """The language model server failed, could not be reached, or broke off its answer."""

    status = 502
    title = "Language model error"


class ModelUnavailable(QAError):
    """A language model the allow-list names cannot be used on this server as configured."""

    status = 503
    title = "Language model unavailable"

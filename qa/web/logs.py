"""Structured logs: one JSON object a line (time, level, logger, message, the request id and the access fields).

Set up through Litestar's logging configuration when the app is made, for every logger: uvicorn's lines are routed
here and its access log is turned off (the app logs its own access line); ``qa serve`` then gives uvicorn no
logging configuration of its own. Nothing logs headers, so keys never show.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from litestar.logging.config import LoggingConfig

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("qa_request_id", default=None)
FIELDS = ("method", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON; the id of the request being served (if any) and the access fields included."""

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line of ``record``."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for name in FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def config(level: str = "INFO") -> LoggingConfig:
    """Litestar's logging configuration for JSON lines on stderr, from the root logger down."""
    console = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return LoggingConfig(
        formatters={"json": {"()": JsonFormatter}},
        handlers={"console": console},
        loggers={
            "litestar": {"level": level, "handlers": ["console"], "propagate": False},
            # uvicorn's lines join these logs; its access log is off, the app logs its own access line
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": level, "handlers": [], "propagate": False},
        },
        root={"handlers": ["console"], "level": level},
        log_exceptions="never",  # the app's error handler logs what went wrong, once
    )

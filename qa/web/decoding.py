"""Request bodies decoded once, strictly, by msgspec: a bad body is a 400 that names the field and shows a good one."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar.dto import MsgspecDTO

from qa.base.errors import InvalidInput
from qa.service.wire import AskRequest
from qa.web.openapi import ModelSchema

T = TypeVar("T")
ASK_EXAMPLE = '{"question": "Who led the long march to Islamabad?", "top_k": 5}'


def decode(body: bytes, kind: type[T], example: str) -> T:
    """The body as ``kind``, or InvalidInput saying what to fix (empty, not JSON, nested too deep, wrong field)."""
    if not body.strip():
        raise InvalidInput(f"request body is empty; send a JSON object like {example}")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")
        field = where.rstrip("`") or "request body"
        raise InvalidInput(f"{field}: {message}; send a JSON object like {example}") from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc}); send a JSON object like {example}") from None
    except RecursionError:
        raise InvalidInput(f"request body nests JSON too deeply; send a JSON object like {example}") from None


def parse_ask(body: bytes) -> AskRequest:
    """Decode a ``POST /ask`` body."""
    return decode(body, AskRequest, ASK_EXAMPLE)


class AskBody(ModelSchema, MsgspecDTO[AskRequest]):
    """Decodes ``POST /ask`` strictly (no "5" for 5), so wrong JSON types are 400 problems naming the field."""

    def decode_bytes(self, value: bytes) -> Any:
        """The request body as an AskRequest, or InvalidInput saying what to fix."""
        return parse_ask(value)

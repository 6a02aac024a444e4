"""Request bodies decoded once, strictly, by msgspec: a bad body is a 400 that names the field and shows a good one."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
import msgspec.inspect
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
        choices = _choices(kind, field) if message.startswith("Invalid enum value") else ()
        if choices:
            message += f" (use one of {', '.join(map(str, choices))})"
        raise InvalidInput(f"{field}: {message}; send a JSON object like {example}") from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc}); send a JSON object like {example}") from None
    except RecursionError:
        raise InvalidInput(f"request body nests JSON too deeply; send a JSON object like {example}") from None


def _choices(kind: Any, field: str) -> tuple[object, ...]:
    """The values a ``Literal`` field allows, found by following its path (``history[0].role``) through the types."""
    found: msgspec.inspect.Type = msgspec.inspect.type_info(kind)
    for name, index in re.findall(r"(\w+)|\[(\d+)\]", field):
        found = _container(found)
        if index and isinstance(found, msgspec.inspect.ListType):
            found = found.item_type
        elif name and isinstance(found, msgspec.inspect.StructType):
            found = next((f.type for f in found.fields if f.name == name), msgspec.inspect.AnyType())
        else:
            return ()
    literals = [t for t in _options(found) if isinstance(t, msgspec.inspect.LiteralType)]
    return literals[0].values if literals else ()


def _container(kind: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """The struct or list type among a union's alternatives (``X | None``), or the type itself."""
    return next(
        (t for t in _options(kind) if isinstance(t, msgspec.inspect.StructType | msgspec.inspect.ListType)), kind
    )


def _options(kind: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, ...]:
    """The alternatives of a union type, or the type itself (constraints and descriptions unwrapped)."""
    while isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    return kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)


def parse_ask(body: bytes) -> AskRequest:
    """Decode a ``POST /ask`` body."""
    return decode(body, AskRequest, ASK_EXAMPLE)


class AskBody(ModelSchema, MsgspecDTO[AskRequest]):
    """Decodes ``POST /ask`` strictly (no "5" for 5), so wrong JSON types are 400 problems naming the field."""

    def decode_bytes(self, value: bytes) -> Any:
        """The request body as an AskRequest, or InvalidInput saying what to fix."""
        return parse_ask(value)

"""The OpenAPI document, told from the types: strict bodies, event streams, and every error each route can answer.

Litestar derives the document from the handlers' annotations and ``responses``; small additions make it say what the
app does: ``StrictStructs`` marks structs that refuse unknown fields with ``additionalProperties: false``;
``ModelSchema`` documents a DTO's body as its model type (with its constraints); ``EventStreams`` documents an
``EventStream`` subclass event by event (``data`` is JSON of the type its ``events`` name), marking the schema with
``contentMediaType: text/event-stream``; and ``JsonOrStream`` files such a schema under ``text/event-stream`` next to
the JSON body of the same 200, which Litestar cannot yet do from one annotation (litestar-org/litestar#3882).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin  # Litestar's, extended below
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.plugins.base import OpenAPISchemaPluginProtocol
from litestar.typing import FieldDefinition

from qa.web.problems import OpenAIError, Problem
from qa.web.sse import EventStream

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

JSON = "application/json"
PROBLEM = "application/problem+json"
EVENT_STREAM = "text/event-stream"
# What each error status means here; every error body says what to fix in ``detail`` (``message`` under /v1).
ERRORS: dict[int, str] = {
    400: "The request is not valid: the body is not JSON, a field is missing, of the wrong type or out of range, the "
    "question is blank or too long, the history holds too many turns or characters, or the conversation does not end "
    "with the user's question",
    404: "No such document or model",
    408: "The request body did not arrive whole within the server's limit (QA_BODY_TIMEOUT seconds)",
    413: "The request body is over the server's limit (QA_MAX_BODY_BYTES)",
    415: "The request body is not JSON (Content-Type: application/json)",
    500: "An unexpected error; it has been logged",
    502: "The language model failed or could not be reached",
    503: "Not ready: the model and index are loading, the index is missing or being rebuilt, or the language model "
    "is not configured",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The documented RFC 9457 problem responses for these statuses."""
    return {status: _error(status, Problem, PROBLEM) for status in statuses}


def openai_error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The documented OpenAI-shaped error responses (what ``/v1`` answers) for these statuses."""
    return {status: _error(status, OpenAIError, JSON) for status in statuses}


def _error(status: int, body: type[msgspec.Struct], media_type: str) -> ResponseSpec:
    """One documented error response."""
    description = ERRORS.get(status, HTTPStatus(status).phrase)
    return ResponseSpec(body, description=description, media_type=media_type, generate_examples=False)


class StrictStructs(StructSchemaPlugin):
    """Documents msgspec structs as Litestar does, adding ``additionalProperties: false`` when unknown fields are
    refused (``forbid_unknown_fields=True``)."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        """The struct's schema, closed to unknown fields when the struct refuses them."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if _forbids_unknown_fields(field_definition.type_):
            schema.additional_properties = False
        return schema


def _forbids_unknown_fields(kind: Any) -> bool:
    """Whether a struct type refuses unknown fields when decoded."""
    info = msgspec.inspect.type_info(kind)
    return isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields


class EventStreams(OpenAPISchemaPlugin):
    """Documents an ``EventStream`` subclass: one schema per event of its ``events`` (name, data)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        """Event streams, whatever else they are."""
        return field_definition.is_subclass_of(EventStream)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        """Each event as an object with its ``event`` name and a ``data`` string: JSON of a type, or a literal."""
        stream: type[EventStream] = field_definition.type_
        events = [_event(name, data, schema_creator) for name, data in stream.events]
        return Schema(one_of=events, description=inspect.getdoc(stream), content_media_type=EVENT_STREAM)


def _event(name: str, data: Any, schema_creator: SchemaCreator) -> Schema:
    """One event: its name, and its data as the literal ``data`` or as JSON of the type ``data``."""
    if isinstance(data, str):
        payload = Schema(const=data)
    else:
        content = schema_creator.for_field_definition(FieldDefinition.from_annotation(data))
        payload = Schema(type=OpenAPIType.STRING, content_media_type=JSON, content_schema=content)
    event = Schema(const=name)
    return Schema(type=OpenAPIType.OBJECT, required=["event", "data"], properties={"event": event, "data": payload})


@dataclass
class JsonOrStream(Operation):
    """An operation whose handler returns a JSON body or an ``EventStream``: each is filed under its media type."""

    def __post_init__(self) -> None:
        """Move event-stream schemas out of each response's JSON ``oneOf`` into ``text/event-stream``."""
        for response in (self.responses or {}).values():
            if isinstance(response, OpenAPIResponse) and response.content and JSON in response.content:
                _split(response.content)


def _split(content: dict[str, OpenAPIMediaType]) -> None:
    """File a JSON ``oneOf`` of bodies and event streams as one schema per media type."""
    schema = content[JSON].schema
    if not isinstance(schema, Schema) or not schema.one_of:
        return
    streams = [s for s in schema.one_of if isinstance(s, Schema) and s.content_media_type == EVENT_STREAM]
    bodies = [s for s in schema.one_of if not any(s is stream for stream in streams)]
    if not streams or not bodies:
        return
    for stream in streams:
        stream.content_media_type = None
    content[JSON] = OpenAPIMediaType(schema=_one(bodies))
    content[EVENT_STREAM] = OpenAPIMediaType(schema=_one(streams))


def _one(schemas: Sequence[Schema | Reference]) -> Schema | Reference:
    """The schema itself, or a ``oneOf`` of several."""
    return schemas[0] if len(schemas) == 1 else Schema(one_of=schemas)


class ModelSchema:
    """For a DTO: document the request body as the model type itself (its constraints, its unknown-field rule), not
    as the transfer type Litestar generates from it."""

    model_type: ClassVar[type[Any]]

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Schema | Reference:
        """The model type's schema."""
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls.model_type))


def schema_plugins() -> list[OpenAPISchemaPluginProtocol]:
    """The app's additions to Litestar's schema generation."""
    return [EventStreams(), StrictStructs()]

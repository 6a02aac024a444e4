"""The OpenAPI document tells the truth: schemathesis runs every check on every operation, in process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from litestar import Litestar
from litestar.testing import TestClient
from schemathesis.config import SchemathesisConfig

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.app import create_app

# The document comes from the types alone: an app that never starts (so never loads a model) serves the same one.
DOCUMENT = json.loads(json.dumps(create_app(Settings.of()).openapi_schema.to_schema()))
# Every check runs everywhere. One allowance: a body the schema accepts may still be refused (400) by /ask and
# /v1/chat/completions for limits set at run time, which their descriptions state rather than the schema (the
# model allow-list QA_LLM_ALLOWED, QA_MAX_TOP_K, QA_MAX_QUESTION_CHARS, a blank question, the history limits
# QA_MAX_HISTORY_TURNS and QA_MAX_HISTORY_CHARS), and by the chat for a conversation whose last message is not the
# user's.
ACCEPTED = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
RUNTIME_LIMITS = {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {"include-method": "POST", "include-path": "/ask", **RUNTIME_LIMITS},
            {"include-method": "POST", "include-path": "/v1/chat/completions", **RUNTIME_LIMITS},
        ]
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@pytest.fixture(scope="module")
def app(seed_settings: Settings, encoder: SentenceEncoder, seed_index: Index) -> Litestar:
    """The app over the seed index with the real model."""
    return create_app(seed_settings, engine=Engine(seed_settings, encoder, seed_index))


@pytest.fixture(scope="module")
def client(app: Litestar) -> Iterator[TestClient[Any]]:
    """A client of that app."""
    with TestClient(app) as test_client:
        yield test_client


def test_the_app_serves_the_document_under_test(client: TestClient[Any]) -> None:
    assert client.get("/schema/openapi.json").json() == DOCUMENT


def component(ref: dict[str, Any]) -> dict[str, Any]:
    """The component schema a ``$ref`` points to."""
    found: dict[str, Any] = DOCUMENT["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return found


def test_request_bodies_state_what_is_refused() -> None:
    paths = DOCUMENT["paths"]
    ask = component(paths["/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    assert ask["additionalProperties"] is False  # forbid_unknown_fields
    assert ask["properties"]["question"]["minLength"] == 1
    top_k = ask["properties"]["top_k"]
    assert top_k["minimum"] == 1 and "maximum" not in json.dumps(top_k) and "QA_MAX_TOP_K" in top_k["description"]
    chat = component(paths["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    assert chat["properties"]["messages"]["minItems"] == 1
    assert "additionalProperties" not in chat  # other OpenAI fields are accepted and ignored


@pytest.mark.parametrize("path", ["/ask", "/v1/chat/completions"])
def test_a_200_is_json_or_an_event_stream(path: str) -> None:
    ok = DOCUMENT["paths"][path]["post"]["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/event-stream"}
    assert "$ref" in ok["application/json"]["schema"]  # one body type, not a oneOf with an empty schema
    events = ok["text/event-stream"]["schema"]["oneOf"]
    assert all(e["required"] == ["event", "data"] for e in events)


def test_ask_stream_documents_each_event() -> None:
    events = DOCUMENT["paths"]["/ask"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]["oneOf"]
    data = {e["properties"]["event"]["const"]: e["properties"]["data"] for e in events}
    assert list(data) == ["passages", "token", "citations", "done", "error"]
    assert all(d["contentMediaType"] == "application/json" for d in data.values())
    assert component(data["error"]["contentSchema"])["title"] == "Problem"


def test_errors_are_problems_and_openai_errors_under_v1() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                ((media_type, content),) = response["content"].items()
                body = component(content["schema"])
                if path.startswith("/v1/"):
                    assert (media_type, body["title"]) == ("application/json", "OpenAIError"), (method, path, status)
                else:
                    assert (media_type, body["title"]) == ("application/problem+json", "Problem"), (method, path)
    ask = DOCUMENT["paths"]["/ask"]["post"]["responses"]
    assert {"400", "413", "415", "500", "502", "503"} <= set(ask)
    assert {"400", "404", "413", "415", "500", "502", "503"} <= set(
        DOCUMENT["paths"]["/v1/chat/completions"]["post"]["responses"]
    )
    assert "404" in DOCUMENT["paths"]["/documents/{doc_id}"]["get"]["responses"]


# Per operation: schemathesis' examples and coverage phases, then 50 fuzzed cases; about 15 s for all eight on two
# cores (the seed index is built once per session, by the shared fixture). Derandomized, so a run is repeatable.
@schema.parametrize()
@settings(max_examples=50, deadline=None, database=None, derandomize=True)
def test_every_operation_keeps_to_the_document(case: Any, app: Litestar) -> None:
    case.call_and_validate(app=app)

"""The openai backend against a real chat-completions server on 127.0.0.1 (tests/openai_stub.py)."""

from __future__ import annotations

import socket
import time

import pytest
from conftest import COUNT, FakeEncoder
from openai_stub import OpenAIStub, Reply

from qa.answers.citations import check
from qa.answers.prompt import build_prompt
from qa.base.errors import ConfigError, ModelError
from qa.base.records import Document, Hit, Passage, Scores
from qa.base.settings import Settings
from qa.models.interface import Prompt
from qa.models.openai_chat import OpenAIModel
from qa.models.registry import get_model
from qa.store.embedding import Encoder
from qa.store.sentence_table import SentenceTable

SECRET = "sk-test-do-not-leak-42"
TEXTS = [
    "In early 2025, the BYC held a massive protest rally in Dalbandin. Thousands of people attended the rally.",
    "Officials said 12 people were killed in the attack on the convoy near Quetta on Tuesday.",
    "The provincial government announced a curfew in Turbat after the protests.",
]


def passages() -> tuple[list[Hit], dict[str, Document]]:
    hits, docs = [], {}
    for rank, text in enumerate(TEXTS, 1):
        doc = Document(id=f"doc{rank}", title=f"Article {rank}", text="Lead paragraph.\n\n" + text)
        start = doc.text.index(text)
        passage = Passage(doc_id=doc.id, start=start, end=start + len(text), text=text)
        hits.append(Hit(rank=rank, passage=passage, title=doc.title, scores=Scores(dense=0.5, keyword=1.0, fused=1.0)))
        docs[doc.id] = doc
    return hits, docs


def make_prompt() -> Prompt:
    hits, docs = passages()
    return build_prompt("Where was the BYC rally?", hits, docs, Settings().answers, COUNT)


def sentences(encoder: Encoder | None = None) -> SentenceTable:
    """The sentence table of the passages, embedded with ``encoder`` (a fake one when None)."""
    hits, docs = passages()
    return SentenceTable.build([h.passage for h in hits], docs, encoder or FakeEncoder(), batch_size=8)


def settings(stub: OpenAIStub, **changes: object) -> Settings:
    values: dict[str, object] = {
        "llm_model": "openai",
        "llm_name": "stub-model",
        "llm_base_url": stub.base_url,
        "llm_api_key": SECRET,
        "llm_timeout": 5.0,
        "llm_max_retries": 2,
        "llm_max_tokens": 200,
        "llm_temperature": 0.2,
    }
    values.update(changes)
    return Settings.of(**values)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_streams_a_cited_answer(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.text("In early 2025 the BYC held ", "a massive protest rally ", "in Dalbandin [1]."))
    model = get_model("openai", settings(openai_stub).models)
    prompt = make_prompt()
    pieces = list(model.stream(prompt))
    assert pieces == ["In early 2025 the BYC held ", "a massive protest rally ", "in Dalbandin [1]."]
    (request,) = openai_stub.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.body["model"] == "stub-model"
    assert request.body["stream"] is True
    assert request.body["max_tokens"] == 200 and request.body["temperature"] == 0.2
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert request.body["messages"][1]["content"] == prompt.messages[1].content
    checked = check("".join(pieces), prompt, sentences())
    assert checked.grounded and checked.invalid == ()
    assert [c.n for c in checked.citations] == [1] and checked.citations[0].supported
    assert SECRET not in repr(model)


def test_marker_for_a_passage_that_does_not_exist(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.text("The BYC rally was held in Dalbandin [1]. ", "A curfew followed in Turbat [7]."))
    prompt = make_prompt()
    answer = "".join(get_model("openai", settings(openai_stub).models).stream(prompt))
    checked = check(answer, prompt, sentences())
    assert checked.invalid == (7,)
    assert "[7]" not in checked.text
    assert checked.text == "The BYC rally was held in Dalbandin [1]. A curfew followed in Turbat."
    assert [c.n for c in checked.citations] == [1]
    assert checked.uncited == 1
    assert not checked.grounded


def test_unsupported_claim(openai_stub: OpenAIStub, encoder: object) -> None:
    openai_stub.script(Reply.text("The BYC rally in Karachi drew 50,000 people [1]."))
    prompt = make_prompt()
    answer = "".join(get_model("openai", settings(openai_stub).models).stream(prompt))
    for enc in (None, encoder):
        checked = check(answer, prompt, sentences(enc), enc)  # type: ignore[arg-type]
        (citation,) = checked.citations
        assert citation.n == 1 and not citation.supported
        assert not checked.grounded


def test_stream_that_breaks_off_raises_model_error(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.broken("The BYC rally ", "was held in"))
    received: list[str] = []
    with pytest.raises(ModelError, match="broke off its answer") as err:
        for piece in get_model("openai", settings(openai_stub).models).stream(make_prompt()):
            received.append(piece)
    assert received == ["The BYC rally ", "was held in"]
    assert openai_stub.base_url in str(err.value)
    assert err.value.kind == "model-error"
    assert len(openai_stub.requests) == 1  # a stream that started is never replayed


def test_rate_limit_then_success_is_retried(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.failure(429, "rate limited", retry_after="0"), Reply.text("Dalbandin [1]."))
    started = time.monotonic()
    pieces = list(get_model("openai", settings(openai_stub).models).stream(make_prompt()))
    assert pieces == ["Dalbandin [1]."]
    assert len(openai_stub.requests) == 2
    assert time.monotonic() - started < 5


def test_server_errors_past_max_retries(openai_stub: OpenAIStub) -> None:
    openai_stub.script(*[Reply.failure(500, "model crashed", retry_after="0")] * 3, Reply.text("too late"))
    with pytest.raises(ModelError, match="HTTP 500; see that server's log") as err:
        list(get_model("openai", settings(openai_stub, llm_max_retries=1).models).stream(make_prompt()))
    assert "model crashed" not in str(err.value)  # the server's words are never passed on
    assert len(openai_stub.requests) == 2  # the first try and one retry


@pytest.mark.parametrize("status", [400, 403, 422, 500, 503])
def test_upstream_error_text_is_never_passed_on(openai_stub: OpenAIStub, status: int) -> None:
    echoed = f"bad request; you sent Authorization: Bearer {SECRET}"
    openai_stub.script(*[Reply.failure(status, echoed, retry_after="0")] * 2)
    with pytest.raises(ModelError) as err:
        list(get_model("openai", settings(openai_stub, llm_max_retries=0).models).stream(make_prompt()))
    assert SECRET not in str(err.value) and "Authorization" not in str(err.value)
    assert "QA_LLM_" in str(err.value)


def test_credentials_in_the_base_url_are_never_shown(openai_stub: OpenAIStub) -> None:
    host = openai_stub.base_url.removeprefix("http://")
    openai_stub.script(Reply.failure(500, "boom"))
    model = get_model("openai", settings(openai_stub, llm_base_url=f"http://user:{SECRET}@{host}?key={SECRET}",
                                         llm_max_retries=0).models)  # fmt: skip
    assert SECRET not in repr(model)
    with pytest.raises(ModelError) as err:
        list(model.stream(make_prompt()))
    assert SECRET not in str(err.value) and "user" not in str(err.value)
    assert openai_stub.base_url in str(err.value)


def test_unreachable_server() -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    model = get_model(
        "openai", Settings.of(llm_model="openai", llm_name="m", llm_base_url=base_url, llm_max_retries=0).models
    )
    with pytest.raises(ModelError) as err:
        list(model.stream(make_prompt()))
    message = str(err.value)
    assert message.startswith(f"cannot reach the language model at {base_url} (")
    assert "check QA_LLM_BASE_URL or start the server" in message


def test_refused_credentials_name_the_setting_not_the_key(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.failure(401, f"invalid key {SECRET[:6]}..."))
    with pytest.raises(ModelError, match="QA_LLM_API_KEY") as err:
        list(get_model("openai", settings(openai_stub).models).stream(make_prompt()))
    assert SECRET not in str(err.value)
    assert len(openai_stub.requests) == 1  # 401 is not retried


def test_unknown_model_name(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.failure(404, "model 'nope' not found"))
    with pytest.raises(ModelError, match=r"does not serve model 'stub-model'.*QA_LLM_NAME"):
        list(get_model("openai", settings(openai_stub).models).stream(make_prompt()))


def test_timeout_names_the_setting(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.text("slow", delay=1.0))
    model = get_model("openai", settings(openai_stub, llm_timeout=0.2, llm_max_retries=0).models)
    with pytest.raises(ModelError, match=r"did not answer within 0\.2 s; raise QA_LLM_TIMEOUT"):
        list(model.stream(make_prompt()))


def test_model_name_is_required() -> None:
    with pytest.raises(ConfigError, match="QA_LLM_NAME"):
        OpenAIModel(Settings().models)
    with pytest.raises(ConfigError, match="QA_LLM_NAME"):
        get_model("openai", Settings().models)


def test_no_key_configured_still_works(openai_stub: OpenAIStub) -> None:
    openai_stub.script(Reply.text("ok"))
    assert list(get_model("openai", settings(openai_stub, llm_api_key="").models).stream(make_prompt())) == ["ok"]


def test_stub_answers_non_streamed_requests(openai_stub: OpenAIStub) -> None:
    import openai

    openai_stub.script(Reply.text("whole ", "answer"))
    client = openai.OpenAI(base_url=openai_stub.base_url, api_key="x", max_retries=0, timeout=5)
    reply = client.chat.completions.create(model="stub-model", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "whole answer"
    assert [m.id for m in client.models.list()] == ["stub-model"]

"""Writes over real HTTP: add, replace, delete, batch; filters and recency; all against a private copy of the seeds."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import served
from prometheus_client.parser import text_string_to_metric_families
from test_app import assert_problem

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.corpus import make_document
from qa.store.embedding import SentenceEncoder
from qa.web.app import create_app

PLANT = (
    "Gwadar desalination plant opens\n\n"
    "The desalination plant in Gwadar opened on 3 March 2024. Officials said it supplies 1.2 million gallons of "
    "water a day to the port city, where taps had run dry for most of the previous summer."
)
KEY = "test-key-0123456789abcdef"
AUTH = {"authorization": f"Bearer {KEY}"}
PLANT_QUESTION = "How many gallons of water a day does the Gwadar desalination plant supply?"
FERRY = (
    "Ferry service resumes\n\n"
    "A ferry service between Karachi and Gwadar resumed in May 2024 after a decade. The ferry carries 300 "
    "passengers and sails twice a week, according to the port authority."
)


@pytest.fixture
def http(living_settings: Settings, encoder: SentenceEncoder) -> Iterator[httpx.Client]:
    """A client of a server over a writable copy of the seed index, on 127.0.0.1."""
    settings = living_settings.replace(refresh_seconds=0, api_keys=KEY)
    app = create_app(settings, engine=Engine.open(settings, encoder))
    with (
        served(app, log_level="warning") as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=AUTH) as client,
    ):
        yield client


def ask(http: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    response = http.post("/ask", json={"question": question, "top_k": 5, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_added_article_answers_at_rank_one(http: httpx.Client) -> None:
    before = ask(http, PLANT_QUESTION)
    response = http.post("/documents", json={"id": "plant", "text": PLANT, "source": "Dawn", "date": "2024-03-04"})
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "plant" and response.json()["status"] == "added"
    assert response.json()["passages"] >= 1
    after = ask(http, PLANT_QUESTION)
    assert after["passages"][0]["doc_id"] == "plant" and before["passages"][0]["doc_id"] != "plant"
    assert after["answerable"] and any(c["doc_id"] == "plant" for c in after["citations"])
    cited = next(c for c in after["citations"] if c["doc_id"] == "plant")
    text = http.get("/documents/plant").json()["text"]
    assert text[cited["start"] : cited["end"]] == cited["quote"]
    listed = {d["id"]: d for d in http.get("/documents").json()}
    assert listed["plant"]["source"] == "Dawn" and listed["plant"]["date"] == "2024-03-04"
    assert listed["plant"]["added_at"] and listed["plant"]["updated_at"]
    again = http.post("/documents", json={"id": "plant", "text": PLANT, "source": "Dawn", "date": "2024-03-04"})
    assert again.status_code == 201 and again.json()["status"] == "unchanged"
    assert len(http.get("/documents").json()) == len(listed)
    assert_problem(http.post("/documents", json={"id": "plant", "text": FERRY}), 409, "PUT /documents/plant")


def test_an_article_without_id_gets_one_from_its_text(http: httpx.Client) -> None:
    first = http.post("/documents", json={"text": FERRY})
    second = http.post("/documents", json={"text": FERRY})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and first.json()["id"].startswith("doc-")
    assert (first.json()["status"], second.json()["status"]) == ("added", "unchanged")


def test_replace_retires_the_old_text_from_both_retrievers(http: httpx.Client) -> None:
    http.post("/documents", json={"id": "plant", "text": PLANT})
    replaced = http.put("/documents/plant", json={"text": FERRY})
    assert replaced.status_code == 200 and replaced.json()["status"] == "updated"
    old = ask(http, "Gwadar desalination plant gallons of water", explain=True)
    for passage in old["passages"]:
        assert "desalination" not in passage["text"]
    new = ask(http, "How many passengers does the Karachi Gwadar ferry carry?", explain=True)
    top = new["passages"][0]
    assert top["doc_id"] == "plant" and top["scores"]["keyword"] > 0
    assert http.get("/documents/plant").json()["text"] == FERRY


def test_delete_removes_it_everywhere_and_bm25_returns_to_before(http: httpx.Client) -> None:
    question = "Who led the long march to Islamabad?"
    before = ask(http, question, explain=True)
    http.post("/documents", json={"id": "plant", "text": PLANT + " The long march passed by."})
    during = ask(http, question, explain=True)
    assert http.delete("/documents/plant").status_code == 204
    after = ask(http, question, explain=True)
    assert "plant" not in {d["id"] for d in http.get("/documents").json()}
    assert all(p["doc_id"] != "plant" for p in after["passages"])
    assert [(p["doc_id"], p["start"]) for p in after["passages"]] == [
        (p["doc_id"], p["start"]) for p in before["passages"]
    ]
    for got, was in zip(after["passages"], before["passages"], strict=True):
        assert got["scores"]["keyword"] == pytest.approx(was["scores"]["keyword"], rel=1e-5)
    assert during["passages"][0]["scores"]["keyword"] != before["passages"][0]["scores"]["keyword"]
    assert_problem(http.get("/documents/plant"), 404)
    assert_problem(http.delete("/documents/plant"), 404, "GET /documents")


def test_a_batch_is_applied_whole_or_not_at_all(http: httpx.Client) -> None:
    count = len(http.get("/documents").json())
    good = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in (("plant", PLANT), ("ferry", FERRY)))
    bad = good + '{"id": "broken", "txt": "no text field"}\n'
    headers = {"content-type": "application/x-ndjson"}
    assert_problem(http.post("/documents:batch", content=bad, headers=headers), 400, "line 3")
    assert len(http.get("/documents").json()) == count
    response = http.post("/documents:batch", content=good, headers=headers)
    assert response.status_code == 200, response.text
    assert [o["status"] for o in response.json()] == ["added", "added"]
    assert len(http.get("/documents").json()) == count + 2
    assert_problem(http.post("/documents:batch", content=good, headers={"content-type": "text/plain"}), 415)
    assert_problem(http.post("/documents", content=PLANT, headers={"content-type": "text/plain"}), 415)


def test_filters_and_recency(http: httpx.Client) -> None:
    http.post("/documents", json={"id": "old", "text": PLANT, "date": "2019-05-01", "author": "A. Baloch"})
    newer = PLANT.replace("3 March 2024", "3 March 2025")
    http.post("/documents", json={"id": "new", "text": newer, "date": "2025-03-04", "source": "Tribune"})
    plain = ask(http, PLANT_QUESTION)
    only = ask(http, PLANT_QUESTION, filter={"doc_ids": ["old"]})
    assert {p["doc_id"] for p in only["passages"]} == {"old"}
    dated = ask(http, PLANT_QUESTION, filter={"after": "2025-01-01"})
    assert dated["passages"] and all(p["doc_id"] == "new" for p in dated["passages"])
    assert {p["doc_id"] for p in ask(http, PLANT_QUESTION, filter={"before": "2019-12-31"})["passages"]} == {"old"}
    assert {p["doc_id"] for p in ask(http, PLANT_QUESTION, filter={"author": "baloch"})["passages"]} == {"old"}
    assert {p["doc_id"] for p in ask(http, PLANT_QUESTION, filter={"source": "tribune"})["passages"]} == {"new"}
    nothing = ask(http, PLANT_QUESTION, filter={"doc_ids": ["no-such-id"]})
    assert nothing["passages"] == [] and not nothing["answerable"]
    recent = ask(http, PLANT_QUESTION, recency=True)
    assert recent["passages"][0]["doc_id"] == "new"
    assert {plain["passages"][0]["doc_id"], plain["passages"][1]["doc_id"]} == {"old", "new"}
    assert_problem(http.post("/ask", json={"question": "x?", "filter": {"after": "2024-13-01"}}), 400, "after")
    assert_problem(http.post("/ask", json={"question": "x?", "filter": {"colour": "red"}}), 400, "colour")


def test_bad_articles_are_refused_with_what_to_fix(http: httpx.Client) -> None:
    assert_problem(http.post("/documents", json={"text": "   "}), 400, "text")
    assert_problem(http.post("/documents", json={"text": PLANT, "date": "March 2024"}), 400, "date")
    assert_problem(http.post("/documents", json={"text": PLANT, "id": "a/b"}), 400, "id")
    assert_problem(http.post("/documents", json={"text": PLANT, "url": "ftp://x"}), 400, "url")
    assert_problem(http.put("/documents/x", json={"text": PLANT, "id": "y"}), 400, "differs")


def test_a_wire_story_from_two_outlets_is_indexed_once_and_cited_with_both(http: httpx.Client) -> None:
    first = http.post("/documents", json={"id": "dawn-plant", "text": PLANT, "source": "Dawn"})
    copy_text = "From our correspondent. " + PLANT + "\n\nRead more on our website."
    second = http.post(
        "/documents", json={"id": "tribune-plant", "text": copy_text, "source": "Tribune", "url": "https://t.example/p"}
    )
    assert first.json()["passages"] >= 1
    assert second.status_code == 201 and second.json()["duplicate_of"] == "dawn-plant"
    assert second.json()["passages"] == 0
    answer = ask(http, PLANT_QUESTION)
    assert all(p["doc_id"] != "tribune-plant" for p in answer["passages"])
    cited = next(c for c in answer["citations"] if c["doc_id"] == "dawn-plant")
    [copy] = cited["copies"]
    assert copy["doc_id"] == "tribune-plant" and copy["source"] == "Tribune" and copy["url"] == "https://t.example/p"
    assert copy_text[copy["start"] : copy["end"]] == cited["quote"]
    assert http.get("/documents/tribune-plant").json()["duplicate_of"] == "dawn-plant"


def test_the_chat_api_takes_the_same_filter(http: httpx.Client) -> None:
    http.post("/documents", json={"id": "plant", "text": PLANT, "date": "2024-03-04"})
    body = {"model": "extractive", "messages": [{"role": "user", "content": PLANT_QUESTION}]}
    plain = http.post("/v1/chat/completions", json=body).json()["articleqa"]
    assert plain["passages"][0]["doc_id"] == "plant"
    kept = http.post("/v1/chat/completions", json={**body, "filter": {"before": "2024-01-01"}}).json()["articleqa"]
    assert kept["passages"] and all(p["doc_id"] != "plant" for p in kept["passages"])
    bad = http.post("/v1/chat/completions", json={**body, "filter": {"after": "soon"}})
    assert bad.status_code == 400 and "filter.after" in bad.json()["error"]["message"]


def test_writes_need_a_valid_key_reads_do_not(http: httpx.Client) -> None:
    anonymous = httpx.Client(base_url=str(http.base_url), timeout=60)
    assert_problem(anonymous.post("/documents", json={"text": PLANT}), 401, "Authorization: Bearer")
    wrong = {"authorization": "Bearer not-the-key-at-all-000"}
    assert_problem(anonymous.delete("/documents/000_f8c65552ac3faefe", headers=wrong), 401)
    assert_problem(anonymous.put("/documents/x", json={"text": PLANT}, headers=wrong), 401)
    batch = {"content-type": "application/x-ndjson"}
    assert_problem(anonymous.post("/documents:batch", content=json.dumps({"text": PLANT}), headers=batch), 401)
    assert anonymous.get("/documents").status_code == 200
    assert anonymous.post("/ask", json={"question": PLANT_QUESTION}).status_code == 200
    assert "plant" not in {d["id"] for d in anonymous.get("/documents").json()}


def test_without_configured_keys_every_write_is_refused(living_settings: Settings, encoder: SentenceEncoder) -> None:
    settings = living_settings.replace(refresh_seconds=0)
    app = create_app(settings, engine=Engine.open(settings, encoder))
    with served(app, log_level="warning") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert_problem(client.post("/documents", json={"text": PLANT}, headers=AUTH), 403, "QA_API_KEYS")
        assert_problem(client.delete("/documents/000_f8c65552ac3faefe", headers=AUTH), 403, "QA_API_KEYS")
        assert client.get("/documents/000_f8c65552ac3faefe").status_code == 200


def test_a_server_follows_writes_made_by_another_process(living_settings: Settings, encoder: SentenceEncoder) -> None:
    settings = living_settings.replace(refresh_seconds=0.2)
    app = create_app(settings, engine=Engine.open(settings, encoder))
    other = Engine.open(settings, encoder)  # its own archive on the same folder, as `qa add` would have
    with served(app, log_level="warning") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        [out] = other.put_documents([make_document("plant", PLANT)])
        assert out.status == "added"
        deadline = time.monotonic() + 10
        while "plant" not in {d["id"] for d in client.get("/documents").json()} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "plant" in {d["id"] for d in client.get("/documents").json()}
        answer = client.post("/ask", json={"question": PLANT_QUESTION}).json()
        assert answer["passages"][0]["doc_id"] == "plant"
        assert client.get("/readyz").json()["revision"] == other.index.revision


def test_metrics_count_the_writes_and_follow_the_index(http: httpx.Client) -> None:
    def sample(name: str, **labels: str) -> float:
        for family in text_string_to_metric_families(http.get("/metrics").text):
            for found in family.samples:
                if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                    return float(found.value)
        return 0.0

    documents, revision = sample("articleqa_index_documents"), sample("articleqa_index_revision")
    http.post("/documents", json={"id": "plant", "text": PLANT})
    http.post("/documents", json={"id": "plant", "text": PLANT})
    assert sample("articleqa_index_documents") == documents + 1
    assert sample("articleqa_index_revision") == revision + 1, "an unchanged article writes nothing"
    assert sample("articleqa_http_requests_total", method="POST", path="/documents", status_code="201") == 2
    http.delete("/documents/plant")
    assert sample("articleqa_index_documents") == documents and sample("articleqa_index_revision") == revision + 2

"""Filters and recency from the documents' coded facts give what reading every document gave (the old code, kept here).

Random documents (authors and outlets in several casings, dates valid, invalid, partial, empty or missing, copies)
and random filters; indexes built in memory, with a recent part and replaced and deleted documents, and loaded
from disk (facts read from the documents file as it opens).
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import msgspec
import numpy as np
import pytest
from conftest import FakeEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scope_before import old_admitted, old_freshness

from qa.base.records import Document, Filter
from qa.base.settings import SearchSettings, Settings
from qa.service.scope import admitted, freshness
from qa.store import document_file
from qa.store.facts import Facts
from qa.store.index import Index
from qa.store.part import Part
from qa.store.snapshot import build_from_documents, load_snapshot, save

AUTHORS = ["Ann Lee", "ANN LEE", "ann lee-smith", "Bob", "", None, "Straße Weiß", "STRASSE", " Zoë "]
SOURCES = ["Daily Ledger", "daily ledger (online)", "THE COURIER", "Courier", "", None, "İstanbul Post"]
DATES = [
    None,
    "",
    "2024",
    "2024-02-30",
    "not a date",
    "2023-12-31",
    "2024-01-01T00:00:00Z",
    "2024-01-01",
    "2024-06-15T23:59:59+02:00",
    "2019-07-04",
    "2024-1-5",
    "20240105",
]
WORDS = "ledger courier lee ann bob harbour storm vote rates council river bridge".split()


# --- random documents and filters ---
def random_documents(rng: random.Random, count: int, prefix: str = "d") -> list[Document]:
    docs = []
    for i in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))) + "."
        date = rng.choice(DATES) if rng.random() < 0.5 else f"20{rng.randint(10, 25):02d}-{rng.randint(1, 12):02d}-01"
        copy = docs[rng.randrange(len(docs))].id if docs and rng.random() < 0.1 else None
        docs.append(
            Document(
                id=f"{prefix}{i:03d}",
                title=f"Title {i}",
                text=text,
                author=rng.choice(AUTHORS),
                source=rng.choice(SOURCES),
                date=date,
                duplicate_of=copy,
            )
        )
    return docs


IDS = [f"d{i:03d}" for i in range(40)] + [f"r{i:03d}" for i in range(10)] + ["missing"]
NEEDLES = st.one_of(
    st.sampled_from(["ann", " ANN LEE ", "lee-", "ss", "STRASSE", "weiß", "", "courier", "online", "i̇stanbul", "zoë"]),
    st.text(alphabet="aAbeLlnsoß -", max_size=4),
)
BOUNDS = st.one_of(
    st.sampled_from(["2024-01-01", "2023-12-31", "2024", "2024-02-30", "", "2019-07-04", "2024-06-15", "2025"]),
    st.dates(dt.date(2009, 1, 1), dt.date(2026, 12, 31)).map(dt.date.isoformat),
)
FILTERS = st.builds(
    Filter,
    doc_ids=st.none() | st.lists(st.sampled_from(IDS), max_size=6),
    author=st.none() | NEEDLES,
    source=st.none() | NEEDLES,
    after=st.none() | BOUNDS,
    before=st.none() | BOUNDS,
)
DOCUMENT_SETS = st.lists(
    st.builds(
        lambda n, author, source, date, copy: Document(
            id=f"d{n:03d}", title="t", text="x", author=author, source=source, date=date, duplicate_of=copy
        ),
        st.integers(0, 39),
        st.sampled_from(AUTHORS) | st.text(max_size=6),
        st.sampled_from(SOURCES) | st.text(max_size=6),
        st.sampled_from(DATES) | st.text(max_size=12),
        st.none() | st.just("d000"),
    ),
    max_size=30,
    unique_by=lambda d: d.id,
)


def fresh(index: Index) -> Index:
    """The same generation again, nothing cached (facts computed anew)."""
    return Index(index.manifest, index.documents, index.base, index.recent, index.base_dead, index.revision)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> list[Index]:
    """Three indexes: one part in memory; base + recent with replaced and deleted documents; saved and loaded."""
    folder = tmp_path_factory.mktemp("facts")
    build = Settings.of(corpus_dir=folder / "c", index_dir=folder / "index", chunk_tokens=32, chunk_overlap=8).build
    encoder = FakeEncoder()
    rng = random.Random(12)
    docs = random_documents(rng, 40)
    one = build_from_documents(docs, build, encoder)
    replaced = [Document(id=d.id, title="new", text="storm river " * 5, date=rng.choice(DATES)) for d in docs[:5]]
    extra = random_documents(rng, 10, prefix="r")
    recent = Part.build([*replaced, *[d for d in extra if d.duplicate_of is None]], build, encoder)
    deleted = {d.id for d in docs[5:8]}
    documents = {d.id: d for d in docs if d.id not in deleted} | {d.id: d for d in [*replaced, *extra]}
    changed = deleted | {d.id for d in replaced}
    two = Index(one.manifest, documents, one.base, recent, frozenset(changed & one.base.doc_rows.keys()), 3)
    loaded = save(two, folder / "index", build)
    three = load_snapshot(folder / "index", build, encoder, check_corpus=False)
    assert loaded.size == three.size and type(three.documents).__name__ == "DocumentFile"
    return [one, two, three]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=FILTERS)
def test_admitted_rows_equal_every_document_s_filter_check(indexes: list[Index], where: Filter) -> None:
    for index in indexes:
        new, old = admitted(index, where), old_admitted(index, where)
        assert new is not None and old is not None
        assert new.dtype == np.bool_ and new.shape == old.shape
        assert np.array_equal(new, old), (where, np.flatnonzero(new ^ old))
    assert admitted(indexes[0], None) is None


@settings(max_examples=300, deadline=None)
@given(docs=DOCUMENT_SETS, where=FILTERS)
def test_facts_admit_what_the_filter_admits(docs: list[Document], where: Filter) -> None:
    got = Facts.of(docs).admits(where)
    assert got.tolist() == [d.duplicate_of is None and where.admits(d) for d in docs]


@settings(max_examples=100, deadline=None)
@given(docs=DOCUMENT_SETS, weight=st.floats(0.0, 1.0), half_life=st.floats(0.5, 4000.0))
def test_boost_equals_the_per_document_recency_boost(docs: list[Document], weight: float, half_life: float) -> None:
    search = SearchSettings(recency_weight=weight, recency_half_life_days=half_life)
    index_like = type("I", (), {"documents": {d.id: d for d in docs}})()
    old = old_freshness(index_like, search)  # type: ignore[arg-type]
    new = Facts.of(docs).boost(weight, half_life)
    assert dict(new) == old and list(new) == list(old) and len(new) == len(old)
    assert new.get("nobody", 1.0) == 1.0


def test_freshness_equals_the_old_walk_on_every_index(indexes: list[Index]) -> None:
    search = SearchSettings(recency_weight=0.3, recency_half_life_days=180.0)
    for index in indexes:
        new, old = freshness(index, search), old_freshness(index, search)
        assert dict(new) == old and list(new) == list(old)
        assert all(new.get(d, 1.0) == old.get(d, 1.0) for d in [*index.documents, "missing"])


def test_facts_are_computed_once_per_generation(indexes: list[Index]) -> None:
    index = fresh(indexes[1])
    assert index.facts is index.facts and index.row_documents is index.row_documents
    loaded = indexes[2]
    assert loaded.facts is loaded.documents.facts  # type: ignore[attr-defined]  # read as the file opened


def test_undated_archive_gets_no_boost() -> None:
    docs = [Document(id="a", title="a", text="x", date=None), Document(id="b", title="b", text="y", date="soon")]
    boost = Facts.of(docs).boost(0.5, 30.0)
    assert not boost and dict(boost) == {} and boost.get("a", 1.0) == 1.0


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_document_file_codes_the_facts_its_documents_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trailing_newline: bool
) -> None:
    monkeypatch.setattr(document_file, "BLOCK", 700)  # blocks end mid-line
    docs = random_documents(random.Random(5), 30)
    body = b"\n".join(msgspec.json.encode(d) for d in docs) + (b"\n" if trailing_newline else b"")
    (tmp_path / "documents.jsonl").write_bytes(body)
    found = document_file.DocumentFile(tmp_path / "documents.jsonl")
    assert dict(found) == {d.id: d for d in docs}
    assert found.duplicates == {d.id: d.duplicate_of for d in docs if d.duplicate_of is not None}
    want, got = Facts.of(docs), found.facts
    assert got.ids == want.ids and dict(got.position) == dict(want.position)
    assert (got.authors, got.sources, got.dates) == (want.authors, want.sources, want.dates)
    for name in ("author", "source", "date", "day", "duplicate"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def test_document_file_refuses_an_id_twice(tmp_path: Path) -> None:
    twice = [Document(id="a", title="a", text="x"), Document(id="b", title="b", text="y")] * 2
    (tmp_path / "documents.jsonl").write_bytes(b"".join(msgspec.json.encode(d) + b"\n" for d in twice))
    with pytest.raises(ValueError, match="'a' appears twice"):
        document_file.DocumentFile(tmp_path / "documents.jsonl")

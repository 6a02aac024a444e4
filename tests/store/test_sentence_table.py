"""The sentence table: one row per indexed sentence, vectors aligned, findable by passage."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from conftest import FakeEncoder

from qa.base.records import Passage
from qa.store.corpus import make_document
from qa.store.owners import Owners
from qa.store.sentence_table import SentencePart, SentenceTable


def test_rows_are_aligned_unique_and_found_by_passage(fake_encoder: FakeEncoder) -> None:
    text = "The otters came back. They nested by the pier for weeks. Fishermen were not pleased at all. Short."
    doc = make_document("d", text)
    first = Passage(doc_id="d", start=0, end=56, text=text[:56])
    second = Passage(doc_id="d", start=22, end=len(text), text=text[22:])
    table = SentenceTable.build([first, second], {"d": doc}, fake_encoder, batch_size=8)
    texts = [s.text for s in table.spans]
    assert texts == [
        "The otters came back.",
        "They nested by the pier for weeks.",
        "Fishermen were not pleased at all.",
    ]
    assert all(text[s.start : s.end] == s.text for s in table.spans)
    assert table.vectors.dtype == np.float16  # as stored, so a table scores the same before and after a save
    np.testing.assert_allclose(table.vectors, fake_encoder.encode(texts), atol=1e-3)
    assert table.rows_in(first) == [0, 1]
    assert table.rows_in(second) == [1, 2]
    assert table.rows_in(Passage(doc_id="other", start=0, end=10, text="x" * 10)) == []


def test_load_refuses_misaligned_files(fake_encoder: FakeEncoder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = make_document("d", "One two three four. Five six seven eight.")
    table = SentenceTable.build([Passage(doc_id="d", start=0, end=41, text=doc.text)], {"d": doc}, fake_encoder, 8)
    spans, vectors = tmp_path / "s.jsonl", tmp_path / "v.npy"
    spans.write_bytes(b"".join(__import__("msgspec").json.encode(s) + b"\n" for s in table.spans[:1]))
    table.parts[0].save(tmp_path / "all.jsonl", vectors)
    try:
        SentencePart.load(spans, vectors)
    except ValueError as exc:
        assert "1 sentences but 2 sentence vectors" in str(exc)
    else:
        raise AssertionError("misaligned sentence files were accepted")


def inside_by_scanning(table: SentenceTable, doc_id: str, start: int, end: int) -> list[int]:
    """The oracle: every live row of the document starting in ``start:end`` and ending by ``end``, part by part,
    each part's in text order (start, end, row)."""
    found, offset = [], 0
    for i, part in enumerate(table.parts):
        live = part.has(doc_id) if table.owner is None else table.owner.get(doc_id) == i
        spans = [(s.start, s.end, r) for r, s in enumerate(part.spans) if s.doc_id == doc_id]
        found += [offset + r for a, b, r in sorted(spans) if live and start <= a < end and b <= end]
        offset += len(part.spans)
    return found


@pytest.mark.parametrize("shuffled", [False, True])
def test_rows_inside_ranges_equals_a_scan_of_every_row(shuffled: bool) -> None:
    """Many ranges at once (two parts, one document owned by the second, unknown documents, empty, partial and
    out-of-text ranges) give the rows a scan of every row finds for each range alone, range by range: with the
    rows in text order (as saved) and shuffled."""
    rng = np.random.default_rng(7)

    def part(docs: list[str]) -> SentencePart:
        spans = []
        for d in docs:
            at = 0
            for _ in range(int(rng.integers(0, 9))):
                length = int(rng.integers(3, 40))
                spans.append(Passage(doc_id=d, start=at, end=at + length, text="x" * length))
                at += length + int(rng.integers(0, 4))
        if shuffled:
            spans = [spans[i] for i in rng.permutation(len(spans))]
        return SentencePart(spans, np.zeros((len(spans), 4), dtype=np.float32))

    parts = (part(["a", "b", "c"]), part(["c", "d"]))
    base, recent = dict.fromkeys("abc", (0, 0)), dict.fromkeys("cd", (0, 0))
    owners: list[Mapping[str, int] | None] = [None, {"a": 0, "b": 0, "c": 1, "d": 1}, {"a": 0, "c": 1, "d": 1}]
    owners += [Owners(base, recent, frozenset()), Owners(base, recent, frozenset("b"))]  # as an index reads them
    assert [dict(o) for o in owners[1:3]] == [dict(o) for o in owners[3:]]
    owners.append(Owners(base, {}, frozenset()))  # settled: only the first part is read (an index's recent is empty)
    counts = []
    for owner in owners:
        table = SentenceTable(parts, owner)
        counts.append(table.live_count())
        bounds = [
            (str(rng.choice(["a", "b", "c", "d", "zz"])), int(lo), int(lo + rng.integers(0, 200)))
            for lo in rng.integers(0, 150, size=300)
        ] + [("c", -5, 10**9), ("a", 10**9, 10**9 + 5), ("b", 0, 0)]
        starts, ends = (np.asarray([b[k] for b in bounds], dtype=np.int64) for k in (1, 2))
        which, rows = table.rows_inside_ranges(([b[0] for b in bounds], starts, ends))
        expected = [(i, r) for i, b in enumerate(bounds) for r in inside_by_scanning(table, *b)]
        assert sum(len(inside_by_scanning(table, *b)) > 0 for b in bounds) > 50  # the ranges do find sentences
        assert list(zip(which.tolist(), rows.tolist(), strict=True)) == expected
        assert all(table.rows_inside(*b) == inside_by_scanning(table, *b) for b in bounds)
    assert counts[1:3] == counts[3:5] and counts[0] > counts[1] > counts[2]  # "c" once, then "b" gone as well


def test_vectors_at_reads_rows_of_one_part_or_of_several() -> None:
    rng = np.random.default_rng(4)
    parts = []
    for doc_id, n in (("a", 5), ("b", 0), ("c", 4)):
        spans = [Passage(doc_id=doc_id, start=i * 3, end=i * 3 + 2, text="ab") for i in range(n)]
        parts.append(SentencePart(spans, rng.standard_normal((n, 8)).astype(np.float16)))  # type: ignore[arg-type]
    table = SentenceTable(tuple(parts))
    every = np.vstack([p.vectors for p in parts]).astype(np.float32)
    for rows in ([2], [4, 0, 1], [5, 8], [8, 0, 6, 3], np.asarray([7, 5], dtype=np.int64)):
        got = table.vectors_at(rows)
        assert got.dtype == np.float32 and np.array_equal(got, every[np.asarray(rows)])
    assert table.vectors_at([]).shape == (0, 8)

"""Spans as arrays and a text blob, documents read from their file, rows read with pread: same values as objects.

(qa/store/spans.py and document_file.py; named apart from tests/answers/test_spans.py.)
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import msgspec
import numpy as np
import pytest

from qa.base.records import Document, Passage
from qa.store import mapping
from qa.store.document_file import DocumentFile
from qa.store.mapping import gather, mapped, read_bytes, read_slice
from qa.store.spans import DOC_IDS, Chained, Spans, doc_runs
from qa.store.strings import Strings

ROWS = [
    Passage(doc_id="a", start=0, end=5, text="Héllo"),
    Passage(doc_id="a", start=6, end=11, text="wörld"),
    Passage(doc_id="b", start=0, end=3, text="ça."),
    Passage(doc_id="c", start=2, end=4, text="日本"),
]


def test_spans_read_back_the_passages_they_hold(tmp_path: Path) -> None:
    spans = Spans.of(ROWS)
    assert list(spans) == ROWS and spans == ROWS and len(spans) == 4
    spans.save(tmp_path / "s")
    loaded = Spans.load(tmp_path / "s")
    assert list(loaded) == ROWS and loaded[-1] == ROWS[-1]
    assert list(loaded.take(np.asarray([3, 0]))) == [ROWS[3], ROWS[0]]
    assert list(loaded[1:3]) == ROWS[1:3]
    assert list(Spans.join([loaded, Spans.of(ROWS[:1])])) == [*ROWS, ROWS[0]]
    assert doc_runs(loaded) == {"a": (0, 2), "b": (2, 3), "c": (3, 4)}
    chained = Chained(loaded, Spans.of(ROWS[:2]))
    assert chained == [*ROWS, *ROWS[:2]] and chained.bounds(5) == ("a", 6, 11)
    with pytest.raises(IndexError):
        loaded[4]


def test_bounds_of_many_rows_equal_each_row_s(tmp_path: Path) -> None:
    Spans.of(ROWS).save(tmp_path / "s")
    loaded, other = Spans.load(tmp_path / "s"), Spans.of([Passage(doc_id="z", start=1, end=2, text="x"), *ROWS[:2]])
    for spans in (loaded, Chained(loaded, other), Chained(Spans.of([]), other), Chained(loaded, Spans.of([]))):
        for rows in ([], [0], list(range(len(spans)))[::-1], [len(spans) - 1, 0, len(spans) - 1]):
            docs, starts, ends = spans.bounds_many(np.asarray(rows, dtype=np.int64))
            assert list(zip(docs, starts.tolist(), ends.tolist(), strict=True)) == [spans.bounds(r) for r in rows]


def test_old_json_lines_passages_are_read(tmp_path: Path) -> None:
    path = tmp_path / "passages.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(p) + b"\n" for p in ROWS))
    assert list(Spans.load(path)) == ROWS


def test_document_ids_are_a_mapped_table_and_older_json_ids_still_load(tmp_path: Path) -> None:
    """Document ids are a string table (mapped, looked up by value); an older index's doc_ids.json still loads."""
    Spans.of(ROWS).save(tmp_path / "s")
    assert not (tmp_path / "s" / "doc_ids.json").exists()
    loaded = Spans.load(tmp_path / "s")
    assert isinstance(loaded.doc_ids, Strings) and list(loaded.doc_ids) == ["a", "b", "c"]
    assert str(tmp_path / "s" / "doc_ids_hash.npy") in Path(f"/proc/{os.getpid()}/maps").read_text()
    runs = doc_runs(loaded)
    assert runs["b"] == (2, 3) and "zz" not in runs and len(runs) == 3 and list(runs) == ["a", "b", "c"]
    with pytest.raises(KeyError):
        runs["zz"]
    (tmp_path / "s" / "doc_ids.json").write_bytes(msgspec.json.encode(["a", "b", "c"]))
    for name in Strings.files(DOC_IDS):
        (tmp_path / "s" / name).unlink()
    assert list(Spans.load(tmp_path / "s")) == ROWS and doc_runs(Spans.load(tmp_path / "s")) == runs


def test_non_contiguous_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="not contiguous"):
        doc_runs(Spans.of([ROWS[0], ROWS[2], ROWS[1]]))


def test_document_file_reads_each_document_as_written(tmp_path: Path) -> None:
    docs = [
        Document(id="x", title="Ünï", text="one\ntwo"),
        Document(id="y", title="Y", text="copy", duplicate_of="x"),
        Document(id="z", title="Z", text="z" * 50_000),
    ]
    path = tmp_path / "documents.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(d) + b"\n" for d in docs))
    found = DocumentFile(path)
    assert dict(found) == {d.id: d for d in docs} and found.duplicates == {"y": "x"}
    assert "w" not in found and len(found) == 3
    assert found["z"] is found["z"]  # decoded once, then shared (documents are frozen)
    for _ in range(2):  # an unknown id is not remembered as anything
        with pytest.raises(KeyError):
            found["w"]


def test_gather_and_read_bytes_equal_indexing_a_mapped_file(tmp_path: Path) -> None:
    array = np.random.default_rng(0).random((1000, 7)).astype(np.float32)
    np.save(tmp_path / "a.npy", array)
    loaded = mapped(tmp_path / "a.npy")
    rows = np.asarray([5, 6, 7, 999, 0, 1, 500, 500], dtype=np.int64)
    np.testing.assert_array_equal(gather(loaded, rows), array[rows])
    blob = np.frombuffer(b"abcdefghij", dtype=np.uint8)
    (tmp_path / "b.bin").write_bytes(blob.tobytes())
    mapped_blob = np.memmap(tmp_path / "b.bin", dtype=np.uint8, mode="r")
    assert read_bytes(mapped_blob, 2, 6) == b"cdef" == read_bytes(blob, 2, 6)
    ints = np.arange(5000, dtype=np.int32) * 3
    np.save(tmp_path / "i.npy", ints)
    view = mapped(tmp_path / "i.npy")[100:]  # a slice of a view: offsets from the view's start, not the file's
    for lo, hi in ((0, 0), (0, 1), (7, 4000), (4899, 4900), (10, 5)):
        np.testing.assert_array_equal(read_slice(view, lo, hi), ints[100:][lo:hi])


def test_a_mapping_keeps_its_descriptor_until_it_is_collected(tmp_path: Path) -> None:
    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    array = np.arange(400, dtype=np.float32).reshape(100, 4)
    np.save(tmp_path / "a.npy", array)
    np.save(tmp_path / "b.npy", -array)
    gc.collect()  # earlier tests' garbage (an engine in a cycle holds its files) must not close files mid-test
    before, places = open_files(), len(mapping._PLACES)
    for i in range(80):  # more mappings than any cache would hold: each read must use its own file, none leak
        name, sign, skip = ("a.npy", 1, 10) if i % 2 else ("b.npy", -1, 20)  # a new array may reuse an old one's id
        loaded = mapped(tmp_path / name)
        view = loaded[skip:]
        del loaded
        np.testing.assert_array_equal(gather(view, np.asarray([0, 5, 79])), sign * array[[skip, skip + 5, skip + 79]])
        del view
    gc.collect()
    assert open_files() == before and len(mapping._PLACES) == places


def test_gather_reads_rows_the_page_cache_does_not_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the first run the cache lacks (``RWF_NOWAIT`` would wait), every later run is announced and read."""
    array = np.random.default_rng(1).random((5000, 6)).astype(np.float32)
    np.save(tmp_path / "a.npy", array)
    loaded = mapped(tmp_path / "a.npy")
    rows = np.asarray([3, 4, 5, 700, 701, 2000, 4999], dtype=np.int64)
    real_preadv = os.preadv
    waited: list[int] = []
    header = (tmp_path / "a.npy").stat().st_size - array.nbytes

    def preadv(fd: int, buffers: list[memoryview], at: int, flags: int = 0) -> int:
        row = (at - header) // 24
        if flags and row >= 700:  # rows from 700 on are "not cached"
            raise BlockingIOError(11, "would block")
        if not flags:
            waited.append(row)
        return real_preadv(fd, buffers, at)

    monkeypatch.setattr(os, "preadv", preadv)
    np.testing.assert_array_equal(gather(loaded, rows), array[rows])
    assert waited == [700, 2000, 4999]

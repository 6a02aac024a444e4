"""Filtered and recency requests over a large index: the code before (walk and decode every document) against the
documents' facts (``qa/store/facts.py``), side by side in one process.

Prints, for the index given (built by ``bench/million.py``, whose derived documents carry authors, outlets and
dates):
- opening the documents file: reading ids and copy links only (before) against also coding the facts (now), and
  the alternative of computing the facts from decoded documents (what a generation after a write costs, and what a
  lazy first request would);
- ``admitted`` and ``freshness`` per request, before and now (the two alternate, same filters, masks checked equal);
- ``Engine.ask`` with a date filter and with recency, before and now, alternating per question (answers checked equal).
With ``--documents N`` it also times the documents-file steps over a copy of the documents file grown to N lines.

Run: ``flock /tmp/bench.lock nice -n 5 python bench/filters.py --index /work/cache/index-100000``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the code before, kept as the tests' oracle

from million import questions, settings_for  # noqa: E402
from scope_before import old_admitted, old_freshness  # noqa: E402

import qa.service.engine as engine_module  # noqa: E402
from qa.base.records import Document, Filter  # noqa: E402
from qa.base.settings import SearchSettings  # noqa: E402
from qa.service.engine import Engine  # noqa: E402
from qa.service.scope import admitted, freshness  # noqa: E402
from qa.store.document_file import DocumentFile  # noqa: E402
from qa.store.facts import Facts  # noqa: E402
from qa.store.index import Index  # noqa: E402


class _Head(msgspec.Struct):
    id: str
    duplicate_of: str | None = None


def old_open(path: Path) -> int:
    """What opening the documents file read before: each line's id and copy link (offsets kept)."""
    decode, at, offset, rest = msgspec.json.Decoder(_Head).decode, {}, 0, b""
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                at[decode(line).id] = (offset, len(line))
                offset += len(line) + 1
    return len(at)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    out = fn()
    return (time.perf_counter() - began) * 1000, out


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeat))


def grown(path: Path, lines: int, folder: Path) -> Path:
    """A copy of the documents file with ``lines`` lines: its documents again under new ids until there are enough."""
    rows = path.read_bytes().splitlines()
    out = folder / f"documents-{lines}.jsonl"
    enc, dec = msgspec.json.Encoder(), msgspec.json.Decoder(Document)
    with out.open("wb") as fh:
        for i in range(lines):
            doc = dec.decode(rows[i % len(rows)])
            doc = msgspec.structs.replace(doc, id=f"{doc.id}~{i // len(rows)}") if i >= len(rows) else doc
            fh.write(enc.encode(doc) + b"\n")
    return out


def documents_file(path: Path, repeat: int) -> None:
    olds, news = [], []
    for _ in range(repeat):  # alternating
        olds.append(timed(lambda: old_open(path))[0])
        ms, docs = timed(lambda: DocumentFile(path))
        news.append(ms)
    old, new = statistics.median(olds), statistics.median(news)
    decoded = median_ms(lambda: Facts.of(docs.values()), 1)
    from_memory = float("nan")
    if len(docs) <= 300_000:  # a million decoded documents would not fit beside the other jobs
        in_memory = list(docs.values())
        from_memory = median_ms(lambda: Facts.of(in_memory), repeat)
        del in_memory
    where = Filter(after="2020-01-01", before="2020-12-31")
    walk = median_ms(lambda: [d.id for d in docs.values() if d.duplicate_of is None and where.admits(d)], 1)
    coded = median_ms(lambda: docs.facts.admits(where), 20)
    print(
        f"{path.name}: {len(docs):,} documents, {path.stat().st_size / 1e6:,.0f} MB\n"
        f"  open: ids and copy links {old:,.0f} ms (before) | + facts {new:,.0f} ms (now, {new / old:.2f}x)\n"
        f"  facts from every decoded document (the lazy alternative) {decoded:,.0f} ms; "
        f"from documents in memory (a generation after a write) {from_memory:,.0f} ms\n"
        f"  a year's date filter over the documents: walk and decode {walk:,.1f} ms | facts {coded:,.2f} ms",
        flush=True,
    )


def per_request(index: Index, search: SearchSettings, repeat: int) -> None:
    filters = {
        "after/before (one year)": Filter(after="2020-01-01", before="2020-12-31"),
        "author": Filter(author="reporter 12"),
        "source": Filter(source="ledger"),
        "ids (20)": Filter(doc_ids=list(index.documents)[:20]),
    }
    first_ms, _ = timed(lambda: (index.facts, index.row_documents))
    print(f"first use in this generation (facts already read with the file; row -> document map): {first_ms:.0f} ms")
    for name, where in filters.items():
        old_mask, new_mask = old_admitted(index, where), admitted(index, where)
        assert old_mask is not None and new_mask is not None and np.array_equal(old_mask, new_mask), name
        olds, news = [], []
        for _ in range(repeat):
            olds.append(timed(lambda w=where: old_admitted(index, w))[0])
            news.append(timed(lambda w=where: admitted(index, w))[0])
        o, n = statistics.median(olds), statistics.median(news)
        print(f"admitted, {name} ({int(new_mask.sum()):,} rows): {o:,.1f} ms before | {n:,.2f} ms now ({o / n:,.0f}x)")
    assert dict(freshness(index, search)) == old_freshness(index, search)
    olds, news = [], []
    for _ in range(repeat):
        olds.append(timed(lambda: old_freshness(index, search))[0])
        news.append(timed(lambda: freshness(index, search))[0])
    o, n = statistics.median(olds), statistics.median(news)
    print(f"freshness: {o:,.1f} ms before | {n:,.3f} ms now ({o / n:,.0f}x)", flush=True)


def asks(engine: Engine, count: int, first: int) -> None:
    cases = {"date filter": {"where": Filter(after="2020-01-01", before="2021-12-31")}, "recency": {"recency": True}}
    asked = questions(count, first)
    for name, kwargs in cases.items():
        took: dict[str, list[float]] = {"before": [], "now": []}
        for i, q in enumerate(asked):
            got = {}
            for which in ("before", "now") if i % 2 == 0 else ("now", "before"):
                engine_module.admitted = old_admitted if which == "before" else admitted  # type: ignore[assignment]
                engine_module.freshness = old_freshness if which == "before" else freshness  # type: ignore[assignment]
                ms, answer = timed(lambda q=q, kw=kwargs: engine.ask(q, 10, **kw))
                took[which].append(ms)
                got[which] = [(h.passage.doc_id, h.passage.start) for h in answer.hits]
            assert got["before"] == got["now"], q
        o, n = statistics.median(took["before"]), statistics.median(took["now"])
        print(f"Engine.ask, {name}, {len(asked)} questions: p50 {o:,.1f} ms before | {n:,.1f} ms now ({o / n:.1f}x)")
    engine_module.admitted, engine_module.freshness = admitted, freshness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--first", type=int, default=1000, help="questions start here")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--documents", type=int, nargs="*", default=[], help="also time a documents file of N lines")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}", flush=True)
    index_dir = Path(args.index)
    settings = settings_for(index_dir, index_dir.parent / "empty-corpus")
    open_ms, engine = timed(lambda: Engine.open(settings))
    index = engine.index
    print(f"opened {index_dir} in {open_ms:,.0f} ms: {len(index.documents):,} documents, {index.size:,} passages")
    documents_file(index_dir / index.manifest.files["documents"], 5)
    per_request(index, settings.search, args.repeat)
    asks(engine, args.questions, args.first)
    with tempfile.TemporaryDirectory(dir=index_dir.parent) as tmp:
        for lines in args.documents:
            documents_file(grown(index_dir / index.manifest.files["documents"], lines, Path(tmp)), 3)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

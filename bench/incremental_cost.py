"""What one write to the living archive costs against rebuilding the index, at two archive sizes.

For each size (passages, default ~1,000 and ~10,000) it writes SciFact abstracts as a corpus, times a full build
(``qa.store.snapshot.build``: read, chunk, embed passages and sentences, BM25, write, as ``qa index`` does), opens
the archive as the server does, then times adding one abstract, replacing one (new text under an existing id)
and deleting one, each ``--reps`` times (medians), through the engine the HTTP routes call (fsync included), plus
the first write after opening (it also groups the archive's copies) and folding the journal into a new snapshot.
One run, one model load: the default ONNX int8 backend unless ``--backend torch``. In-process, no network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.service.submissions import DocumentIn
from qa.store.archive import Archive
from qa.store.chunking import Chunker, token_counter
from qa.store.corpus import make_document
from qa.store.embedding import Encoder
from qa.store.encoders import open_encoder
from qa.store.part import embed_input
from qa.store.snapshot import build

ROOT = Path(__file__).resolve().parent.parent
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "bench").is_dir()), ROOT.parent / "shared")


def abstracts(path: Path) -> list[dict[str, str]]:
    """SciFact abstracts as articles: id, title, text."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"id": f"sf-{r['_id']}", "title": r["title"], "text": r["text"]} for r in rows if r["text"].strip()]


def passages_of(docs: list[dict[str, str]], settings: Settings, encoder: Encoder) -> list[int]:
    """How many passages each article becomes with these settings (the chunker the build uses)."""
    chunker = Chunker(
        count=token_counter(settings.build.encoding),
        max_tokens=settings.build.chunk_tokens,
        overlap=settings.build.chunk_overlap,
        fits=lambda doc, text: encoder.fits(embed_input(doc.title, text, True)),
    )
    return [len(chunker.chunk(make_document(d["id"], d["text"], title=d["title"]))) for d in docs]


def median_ms(action: Callable[[int], object], reps: int) -> float:
    """Median wall time of ``action(rep)`` over ``reps`` calls, in milliseconds."""
    times = []
    for rep in range(reps):
        began = time.perf_counter()
        action(rep)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def measure(
    docs: list[dict[str, str]], spare: list[dict[str, str]], encoder: Encoder, folder: Path, reps: int, backend: str
) -> dict[str, float]:
    """Build an archive of ``docs`` in ``folder`` and time the writes; figures in ms (build in ms too)."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "abstracts.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    settings = Settings.of(corpus_dir=corpus, index_dir=folder / "index", embed_backend=backend)
    began = time.perf_counter()
    index = build(settings.build, encoder)
    out = {"passages": float(index.manifest.passages), "rebuild": (time.perf_counter() - began) * 1000}
    engine = Engine(settings, encoder, Archive.open(settings.build, encoder))
    body = iter(spare)

    def add(_rep: int) -> None:
        d = next(body)
        engine.add(DocumentIn(id=d["id"], title=d["title"], text=d["text"]))

    out["first write"] = median_ms(add, 1)
    out["add"] = median_ms(add, reps)

    def replace(rep: int) -> None:
        d = next(body)
        engine.replace(docs[rep]["id"], DocumentIn(title=d["title"], text=d["text"]))

    out["update"] = median_ms(replace, reps)
    out["delete"] = median_ms(lambda rep: engine.remove(docs[reps + rep]["id"]), reps)
    assert engine.archive is not None
    archive = engine.archive
    out["checkpoint"] = median_ms(lambda _rep: archive.checkpoint(), 1)
    return out


def main() -> None:
    """Build each size, time the writes, print one table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scifact", type=Path, default=SHARED / "bench" / "scifact" / "corpus.jsonl")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="target passages per archive")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of each write (medians)")
    ap.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    args = ap.parse_args()
    articles = abstracts(args.scifact)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.of(index_dir=Path(tmp) / "model", embed_backend=args.backend)
        began = time.perf_counter()
        encoder = open_encoder(settings.build)
        print(f"{args.backend} model ready in {time.perf_counter() - began:.1f} s (ONNX: export included)")
        counts = passages_of(articles, settings, encoder)
        spare = articles[-(3 * args.reps + 1) :]  # abstracts written by the benchmark, never in an archive
        rows = []
        for size in args.sizes:
            total, n = 0, 0
            while total < size and n < len(articles) - len(spare):
                total, n = total + counts[n], n + 1
            figures = measure(articles[:n], spare, encoder, Path(tmp) / f"size{size}", args.reps, args.backend)
            rows.append((n, figures))
            print(f"{n} abstracts: {figures}", flush=True)
            shutil.rmtree(Path(tmp) / f"size{size}", ignore_errors=True)
    print()
    print("| archive | full rebuild | add 1 | update 1 | delete 1 | first write after open | checkpoint |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n, f in rows:
        rebuild = f["rebuild"]
        cells = [f"{f[k]:.0f} ms (1/{rebuild / f[k]:,.0f})" for k in ("add", "update", "delete", "first write")]
        print(
            f"| {n:,} abstracts, {f['passages']:,.0f} passages | {rebuild / 1000:.1f} s | "
            + " | ".join(cells)
            + f" | {f['checkpoint']:.0f} ms |"
        )
    print(f"\nmedians of {args.reps} (first write and checkpoint: once); (1/N): the rebuild costs N times the write")


if __name__ == "__main__":
    main()

"""What one write costs in a large archive: the first ``Archive.put``, two more, and a second process catching up.

Run it with a checkout on PYTHONPATH against a copy of an index (the writes change it)::

    PYTHONPATH=CHECKOUT python bench/write_cost.py COPY            # time and memory of three puts and refreshes
    PYTHONPATH=CHECKOUT python bench/write_cost.py COPY --sign     # add the originals' signatures file to COPY

The writer and the reader are separate processes (the reader opens before the first write), each reporting its
wall time and resident memory (VmRSS, and VmHWM the peak), and how long the new generation's filter facts take
(``Index.facts``, paid by the first filtered question after a write). The three puts: a new article, a copy of it
under another id, a copy of the index's first original; their outcomes (``duplicate_of``) show the decisions.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from qa.base.settings import Settings
from qa.service import lifecycle
from qa.store.archive import Archive
from qa.store.corpus import make_document

TEXT = "A new article about the harbour council and its flood defences, read by {n} residents on the quay. "


def memory() -> dict[str, int]:
    """This process's resident and peak resident memory, MB."""
    status = Path("/proc/self/status").read_text()
    return {k: int(status.split(f"{k}:")[1].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}


def settings(folder: str) -> Settings:
    env = dict(os.environ, QA_INDEX_DIR=folder, QA_CORPUS_DIR="/work/shared/bench/squad2/corpus")
    return Settings.from_env(env)


def opened(folder: str) -> tuple[Archive, float]:
    s = settings(folder)
    started = time.perf_counter()
    archive = Archive.open(s.build, lifecycle.open_encoder(s, None), check_corpus=False)
    return archive, time.perf_counter() - started


def reader(folder: str, conn: Connection) -> None:
    archive, seconds = opened(folder)
    conn.send({"open_s": round(seconds, 2), **memory()})
    while conn.recv():
        started = time.perf_counter()
        changed = archive.refresh()
        seconds = time.perf_counter() - started
        conn.send({"refresh_s": round(seconds, 2), "changed": changed, "facts_s": facts_seconds(archive), **memory()})


def facts_seconds(archive: Archive) -> float:
    """How long the generation's filter facts take (the first filtered /ask after a write pays it)."""
    started = time.perf_counter()
    archive.index.facts  # noqa: B018 (a cached property: computing it is the point)
    return round(time.perf_counter() - started, 2)


def sign(folder: str) -> None:
    """Write the signatures file of the snapshot in ``folder`` and list it in the manifest (timed)."""
    import msgspec

    from qa.store import originals, snapshot
    from qa.store.manifest import read_manifest

    path = Path(folder)
    manifest = read_manifest(path)
    index = snapshot.load_snapshot(path, settings(folder).build, check_corpus=False)
    started = time.perf_counter()
    ids = originals.originals(index.documents)
    name = f"signatures-{manifest.generation}.npy"
    originals.write(path / name, originals.for_save(index.documents, ids, None))
    seconds = time.perf_counter() - started
    files = {**manifest.files, originals.FILE: name}
    snapshot.write_manifest(path, msgspec.structs.replace(manifest, files=files))
    print(json.dumps({"signed": len(ids), "seconds": round(seconds, 1), **memory()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--sign", action="store_true")
    args = parser.parse_args()
    if args.sign:
        sign(args.folder)
        return
    here, there = mp.get_context("spawn").Pipe()
    child = mp.get_context("spawn").Process(target=reader, args=(args.folder, there))
    child.start()
    report: dict[str, Any] = {"checkout": os.environ.get("PYTHONPATH", ""), "reader_open": here.recv()}
    archive, seconds = opened(args.folder)
    report["writer_open"] = {"open_s": round(seconds, 2), **memory()}
    docs_held = archive.index.documents
    first_original = next(d for d in docs_held if docs_held[d].duplicate_of is None)
    base_copy = docs_held[first_original]
    tag = os.getpid()
    docs = [
        make_document(f"zz-new-{tag}", TEXT.format(n=tag) * 20),
        make_document(f"zz-copy-{tag}", TEXT.format(n=tag) * 20 + " Reporting by the wire."),
        make_document(f"zz-base-copy-{tag}", base_copy.text, title=base_copy.title),
    ]
    for i, doc in enumerate(docs):
        started = time.perf_counter()
        (outcome,) = archive.put([doc])
        report[f"put{i}"] = {
            "s": round(time.perf_counter() - started, 2),
            "duplicate_of": outcome.duplicate_of,
            "facts_s": facts_seconds(archive),
            **memory(),
        }
        here.send(True)
        report[f"refresh{i}"] = here.recv()
    here.send(False)
    child.join()
    report["expected_base_original"] = first_original
    report["loadavg"] = os.getloadavg()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()

"""Ingest on a Ray cluster: read, clean, chunk and embed as Ray Data map stages, shards merged into the index.

Files are read (and cleaned) by tasks; copies are grouped on the driver, which sees every text in corpus order
as a normal build does; chunks are made by tasks, vectors by a pool of actors each holding the model on one
thread, and each batch of documents is written as a shard into a staging folder beside the index. The driver
merges the shards into the usual snapshot (same manifest, same files): serving cannot tell the difference.
On a cluster of several machines, the corpus and index folders must be at the same path on every node.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from qa.base.errors import ConfigError, CorpusError, QAError
from qa.base.files import TMP_PREFIX, remove
from qa.base.settings import BuildSettings
from qa.store import shards
from qa.store.corpus import checked_corpus, corpus_files, corpus_hash
from qa.store.embedding import Encoder
from qa.store.index import Index
from qa.store.snapshot import generation_name, grouping, new_manifest, publish

Progress = Callable[[str], None]
RAY_EXTRA = "install the ray extra: pip install 'articleqa[ray]'"
PACKAGE = Path(__file__).resolve().parents[1]  # the qa package, shipped to a cluster joined by address
SHARD_DOCS = 256  # documents per shard
CONNECT_SECONDS = 5.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's nodes take 127.0.0.1, not the machine's address


def _ray() -> Any:
    """The ray module (with Ray Data), or a ConfigError naming the extra that brings it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(f"qa index --ray needs Ray, which is not installed; {RAY_EXTRA}") from None
    for handler in logging.getLogger("ray.data").handlers:  # its full log stays in the session's files
        if handler.get_name() == "console":
            handler.setLevel(logging.ERROR)
    return ray


def host_port(address: str) -> tuple[str, int]:
    """Host and port of ``ray://host:port`` or ``host:port``, or a ConfigError."""
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"Ray address {address!r} is not host:port or ray://host:port (such as 10.0.0.5:6379)")
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def cluster(address: str, workers: int) -> Iterator[int]:
    """Connected to the Ray cluster at ``address`` (a new local one, loopback only, when empty); yields its CPUs.

    A local cluster has ``workers`` CPUs (0: every core) and no dashboard; a cluster joined by address is used
    as it is, with this ``qa`` package shipped to its workers. Ray is shut down (a local cluster stopped) after.
    """
    if not address or host_port(address)[0] in LOOPBACK:  # read at import: 127.0.0.1 stays 127.0.0.1
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    ray = _ray()
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address:
            host, port = host_port(address)
            try:
                socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
            except OSError as exc:
                raise ConfigError(
                    f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
                    "start it (ray start --head) or check the address"
                ) from None
            ray.init(address=address, runtime_env={"py_modules": [str(PACKAGE)]}, **quiet)
        else:
            ray.init(num_cpus=workers or None, include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        ray.shutdown()
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise ConfigError(f"cannot start or join {where}: {' '.join(str(exc).split())[:300]}") from None
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        ray.shutdown()


def build(settings: BuildSettings, encoder: Encoder, workers: int, *, progress: Progress | None = None) -> Index:
    """Build the index of the corpus on the connected Ray cluster with ``workers`` embedding actors, and write it."""
    ray = _ray()
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    files = corpus_files(settings.corpus_dir)
    remote = dataclasses.replace(  # workers run elsewhere: absolute folders
        settings, corpus_dir=settings.corpus_dir.resolve(), index_dir=settings.index_dir.resolve()
    )
    tasks = ray.data.TaskPoolStrategy(size=workers)
    items = [{"file": i, "path": str(p.resolve())} for i, p in enumerate(files)]
    read = ray.data.from_items(items, override_num_blocks=-(-len(items) // 4)).map_batches(
        shards.read_files, batch_size=4, compute=tasks, num_cpus=0
    )
    docs, skipped = shards.file_documents(_run(read))
    corpus = checked_corpus(settings.corpus_dir, docs, skipped, corpus_hash(settings.corpus_dir))
    for note in corpus.skipped:
        say(f"warning: skipped {note}")
    stamped, groups = grouping(corpus.documents, settings.duplicate_threshold)
    indexed = [d for d in stamped if d.duplicate_of is None]
    say(f"read {len(files)} files: {len(indexed)} documents to index; chunking and embedding on {workers} workers")
    staging = remote.index_dir / f"{TMP_PREFIX}ray-{generation_name()}"
    encode = msgspec.json.Encoder().encode
    per_batch = max(1, min(16, len(indexed) // (4 * workers)))
    blocks = -(-len(indexed) // per_batch)
    embed = type("Embed", (shards.Embed,), {"settings": remote})  # bound here: no constructor arguments to ship
    try:
        pipeline = (
            ray.data.from_items(
                [{"seq": i, "doc": encode(d)} for i, d in enumerate(indexed)], override_num_blocks=blocks
            )
            .map_batches(shards.chunk, fn_kwargs={"settings": remote}, batch_size=per_batch, compute=tasks, num_cpus=0)
            .map_batches(
                embed,
                batch_size=per_batch,
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=1,
            )
            .map_batches(
                shards.write_shard,
                fn_kwargs={"staging": str(staging), "dimension": encoder.dimension},
                batch_size=SHARD_DOCS,
                compute=tasks,
                num_cpus=0,
            )
        )
        part = shards.merge(_run(pipeline), len(indexed), encoder.dimension)
    finally:
        remove(staging)
    if not part.size:
        raise CorpusError(f"the {len(indexed)} documents hold no article text to index; add article text")
    say(f"merged the shards: {part.size} passages, {len(part.sentences.spans)} sentences")
    manifest = new_manifest(settings, encoder, len(stamped), part.size, started)
    index = Index.single(manifest, {d.id: d for d in stamped}, part)
    return publish(index, settings, corpus.sha256, started, say, groups)


def _run(dataset: Any) -> list[dict[str, Any]]:
    """Every row of a dataset; an error of ours raised in a worker is raised here as itself."""
    try:
        return list(dataset.take_all())
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, QAError):
                raise cause from None
            cause = getattr(cause, "cause", None) or cause.__cause__
        raise

"""The commands of `qa` and `ask`: build settings from flags, call the engine, print what it returns."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import sys
import time
from pathlib import Path

import msgspec

from qa.base.errors import ConfigError, InvalidInput
from qa.base.records import Filter
from qa.base.settings import Settings
from qa.service import evaluation, lifecycle
from qa.service.engine import Engine
from qa.service.submissions import check_date
from qa.service.wire import ask_response
from qa.terminal.render import format_benchmark, format_followups, format_report, format_scores, print_stream, printable


class UserError(Exception):
    """An expected failure outside the library's error tree (a missing file, an empty question)."""


def settings_from(args: argparse.Namespace, **extra: object) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    return Settings.from_env(
        os.environ, corpus_dir=args.corpus, index_dir=args.index, model=args.embedding_model, **extra
    )


def _progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def _open_engine(settings: Settings) -> Engine:
    """The engine over an existing index; never builds one."""
    return Engine.open(settings)


def _json(value: object) -> None:
    """Print a msgspec-encodable value as indented JSON."""
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n")


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question and print it with its citations (or as JSON)."""
    words: list[str] = args.question
    if not words or words == ["-"]:
        if sys.stdin.isatty():
            print("Type the question, then Ctrl-D:", file=sys.stderr)
        question = sys.stdin.read().strip()
    else:
        question = " ".join(words).strip()
    if not question:
        raise InvalidInput('the question is empty; pass it as an argument (ask "Who ...?") or on stdin')
    where, recency = where_from(args), bool(args.recent)
    engine = _open_engine(settings_from(args))
    explain = engine.explain() if args.explain else None
    if args.json:
        _json(ask_response(engine.ask(question, args.top_k, args.model, where=where, recency=recency), explain=explain))
        return 0
    result = print_stream(engine.stream(question, args.top_k, args.model, where=where, recency=recency))
    if explain is not None:
        print("\n" + format_scores(result, explain))
    return 0


def where_from(args: argparse.Namespace) -> Filter | None:
    """The document filter the ask flags give (None when none is given), its dates checked."""
    after, before = args.after, args.before
    check_date(after, "--after")
    check_date(before, "--before")
    if after and before and after > before:
        raise InvalidInput(f"--after {after} is later than --before {before}; swap them")
    if not (args.doc_ids or args.author or args.source or after or before):
        return None
    return Filter(doc_ids=args.doc_ids or None, author=args.author, source=args.source, after=after, before=before)


def cmd_index(args: argparse.Namespace) -> int:
    """Build the index of the corpus and print a summary line."""
    settings = settings_from(args)
    started = time.perf_counter()
    if args.ray is None:
        manifest = Engine.build(settings, progress=_progress)
    else:
        manifest = lifecycle.build_on_ray(settings, args.ray, _progress).manifest
    print(
        f"indexed {manifest.documents} documents into {manifest.passages} passages in "
        f"{time.perf_counter() - started:.1f} seconds ({settings.build.index_dir})"
    )
    dense = manifest.dense
    if dense.kind != "flat":
        print(
            f"dense index {dense.kind} (IVF{dense.nlist},PQ{dense.pq_m}, nprobe {dense.nprobe}): recall@10 "
            f"{dense.recall_at_10:.3f} of flat over {dense.recall_queries} held-out queries"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Take the address (a taken port fails at once), open the engine (building the index unless --no-build), serve.

    With more than one worker (``--workers`` / ``QA_WORKERS``; default one per core) see qa/terminal/workers.py.
    """
    from qa.terminal import workers

    settings = settings_from(args, host=args.host, port=args.port, workers=args.workers, lock_index=args.lock_index)
    host, port, count = settings.http.host, settings.http.port, workers.worker_count(settings)
    if count > 1:
        _bind(host, port).close()  # a taken port fails at once, with the setting to change
        return workers.serve_workers(settings, count, build=not args.no_build, progress=_progress)
    with _bind(host, port) as sock:
        workers.serve(settings, sock, build=not args.no_build, progress=_progress)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    """Open the engine (building the index unless --no-build), then serve MCP over stdin and stdout until EOF."""
    import anyio

    from qa.web.mcp import Articles

    settings = settings_from(args)
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the protocol only
        engine = Engine.open(settings, build=not args.no_build, progress=_progress)
    _progress(f"serving {len(engine.index.documents)} documents over MCP on stdio")
    anyio.run(Articles(lambda: engine).run_stdio_async)
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (uvicorn listens on it), or a ConfigError saying which setting to change."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hints = {
            errno.EADDRINUSE: f"port {port} is in use; stop what listens there or pick another with --port or QA_PORT",
            errno.EADDRNOTAVAIL: f"{host} is not an address of this machine; set --host or QA_HOST to one of its "
            "addresses (127.0.0.1: this machine only; 0.0.0.0: every interface)",
            errno.EACCES: f"port {port} needs privileges; pick a port from 1024 up with --port or QA_PORT",
        }
        hint = hints.get(exc.errno or 0, "check --host / QA_HOST and --port / QA_PORT")
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); {hint}") from None
    return sock


def cmd_eval(args: argparse.Namespace) -> int:
    """Run a question set through the engine and print hit rates, MRR and abstention figures."""
    if args.beir is not None:
        return _eval_beir(args)
    path: Path | None = args.questions
    if path is None:
        raise UserError("give a question file (qa eval QA.jsonl) or a BEIR folder (qa eval --beir DIR)")
    if not path.is_file():
        raise UserError(f"question file {path} does not exist (or is not a file)")
    if evaluation.holds_followups(path):
        return _eval_followups(args, path)
    questions = evaluation.load_questions(path)
    report = evaluation.questions(_open_engine(settings_from(args)), questions, args.top_k)
    if args.json:
        _json(report)
        return 0
    print(format_report(report))
    if args.verbose:
        print(f"\nmisses at rank 1 ({len(report.misses)}):")
        for miss in report.misses:
            print(f"  {printable(miss)}")
    elif report.misses:
        print(f"\n{len(report.misses)} questions missed at rank 1; --verbose lists them")
    return 0


def _eval_followups(args: argparse.Namespace, path: Path) -> int:
    """Run a follow-up set (records with ``turns``) and print how its last answers fare."""
    conversations = evaluation.load_followups(path)
    report = evaluation.followups(_open_engine(settings_from(args)), conversations, args.top_k)
    if args.json:
        _json(report)
        return 0
    print(format_followups(report, verbose=args.verbose))
    return 0


def _eval_beir(args: argparse.Namespace) -> int:
    """Index a BEIR corpus in memory, run the split's queries and print nDCG@10, recall and MRR."""
    result = evaluation.beir(settings_from(args), args.beir, args.split, run_out=args.run_out, progress=_progress)
    if args.json:
        _json(
            {
                "metrics": result.metrics,
                "documents": result.documents,
                "passages": result.passages,
                "seconds": result.seconds,
            }
        )
        return 0
    print(format_benchmark(result))
    return 0


def cmd_documents(args: argparse.Namespace) -> int:
    """List the indexed documents: id, date, author, title (tab-separated)."""
    for doc in Engine.catalogue(settings_from(args)):
        fields = (doc.id, doc.date or "-", doc.author or "-", doc.title)
        print("\t".join(printable(field) for field in fields))
    return 0

"""Command line: `ask QUESTION` and `qa index|serve|ask|eval|documents`; thin wrappers around the library."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from qa.config import Settings
from qa.display import format_benchmark, format_report, format_scores, print_stream
from qa.embedding import Encoder, open_encoder
from qa.errors import IndexMissing, InvalidInput, QAError
from qa.schema import ask_response, explain_info

if TYPE_CHECKING:
    from qa.engine import Engine

QUIET_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"}
Command = Callable[[argparse.Namespace], int]


class UserError(Exception):
    """An expected failure outside the library's error tree (a missing file, an empty question)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `qa`; returns the exit code."""
    return _run(_qa_parser(), argv)


def ask_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `ask`; returns the exit code."""
    parser = argparse.ArgumentParser(prog="ask", description="Answer a question from the indexed articles, "
                                     "with citations.")
    _ask_arguments(parser)
    return _run(parser, argv)


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse, run the chosen command, and turn expected failures into one `error:` line."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors (argparse has printed them)
        return exc.code if isinstance(exc.code, int) else 2
    command: Command = args.command
    try:
        code = command(args)
        sys.stdout.flush()
        return code
    except (QAError, UserError) as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # the reader went away (`qa documents | head -1`): stop quietly, as Unix tools do
        _silence_stdout()
        return 1
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename or exc}: no such file or folder")
    except OSError as exc:
        return _fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")


def _fail(message: str) -> int:
    """Print one `error:` line to stderr and return the failure exit code."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _common(parser: argparse.ArgumentParser) -> None:
    """Flags that override the QA_* environment settings."""
    parser.add_argument("--corpus", type=Path, metavar="DIR", help="folder of articles (env QA_CORPUS_DIR)")
    parser.add_argument("--index", type=Path, metavar="DIR", help="index folder (env QA_INDEX_DIR)")
    parser.add_argument("--embedding-model", metavar="NAME", help="embedding model name or folder (env QA_MODEL)")


def _ask_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `ask` and `qa ask`."""
    parser.add_argument("question", nargs="*", help="the question (words are joined); omit or '-' to read stdin")
    parser.add_argument("--top-k", type=int, metavar="N", help="passages to retrieve (env QA_DEFAULT_TOP_K)")
    parser.add_argument("--model", metavar="NAME", help="language model that writes the answer, from the allow-list "
                        "(env QA_LLM_MODEL; default extractive: quotes, no model)")
    parser.add_argument("--json", action="store_true", help="print the POST /ask response JSON")
    parser.add_argument("--explain", action="store_true", help="also show each passage's dense, keyword and fused "
                        "scores and the settings behind them")
    _common(parser)
    parser.set_defaults(command=cmd_ask)


def _qa_parser() -> argparse.ArgumentParser:
    """The `qa` parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="qa", description="Question answering over a folder of articles.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    p = sub.add_parser("index", help="build the index of the corpus", description="Build the index of the corpus.")
    _common(p)
    p.set_defaults(command=cmd_index)

    p = sub.add_parser("serve", help="run the HTTP service", description="Run the HTTP service, building the "
                       "index first when it is missing or stale.")
    p.add_argument("--host", help="address to listen on (env QA_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (env QA_PORT, default 8000)")
    p.add_argument("--no-build", action="store_true", help="fail instead of building a missing or stale index")
    _common(p)
    p.set_defaults(command=cmd_serve)

    _ask_arguments(sub.add_parser("ask", help="answer a question", description="Answer a question, with citations."))

    p = sub.add_parser("eval", help="score retrieval on a question set or a BEIR benchmark",
                       description="Score retrieval and abstention on a JSON Lines question set, or retrieval on a "
                       "BEIR folder (indexed in memory with the same pipeline).")
    p.add_argument("questions", type=Path, metavar="QA.jsonl", nargs="?",
                   help="question set, e.g. tests/data/dev_qa.jsonl")
    p.add_argument("--beir", type=Path, metavar="DIR", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--split", default="train", help="qrels split with --beir (default train)")
    p.add_argument("--run-out", type=Path, metavar="FILE", help="with --beir: write a TREC run file")
    p.add_argument("--top-k", type=int, default=10, metavar="N", help="passages retrieved per question (default 10)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="list the questions missed at rank 1")
    _common(p)
    p.set_defaults(command=cmd_eval)

    p = sub.add_parser("documents", help="list the indexed articles", description="List the indexed articles: "
                       "id, date, author, title (tab-separated).")
    _common(p)
    p.set_defaults(command=cmd_documents)
    return parser


def _version() -> str:
    """The installed package version."""
    try:
        return metadata.version("articleqa")
    except metadata.PackageNotFoundError:
        return "unknown"


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    return Settings.from_env(os.environ, corpus_dir=args.corpus, index_dir=args.index, model=args.embedding_model,
                             **extra)


def _load_model(settings: Settings) -> Encoder:
    """The embedding model, loaded without progress bars."""
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return open_encoder(settings)


def _progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def _require_index(settings: Settings, hint: str = "") -> None:
    """Fail fast, before the slow model load, when there is no index at all."""
    from qa.index import MANIFEST

    if not (settings.index_dir / MANIFEST).is_file():
        raise IndexMissing(f"no index in {settings.index_dir}; build it first with `qa index`{hint}")


def _open_engine(settings: Settings) -> Engine:
    """The engine over an existing index; never builds one."""
    from qa.engine import Engine

    _require_index(settings)
    return Engine.open(settings, _load_model(settings))


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
        raise InvalidInput("the question is empty; pass it as an argument (ask \"Who ...?\") or on stdin")
    engine = _open_engine(_settings(args))
    explain = explain_info(engine.settings, engine.index.manifest) if args.explain else None
    if args.json:
        _json(ask_response(engine.ask(question, args.top_k, args.model), explain=explain))
        return 0
    result = print_stream(engine.stream(question, args.top_k, args.model))
    if explain is not None:
        print("\n" + format_scores(result, explain))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """Build the index of the corpus and print a summary line."""
    from qa.corpus import corpus_files
    from qa.index import build

    settings = _settings(args)
    corpus_files(settings.corpus_dir)  # a missing or empty corpus fails before the slow model load
    _progress(f"loading model {settings.model}")
    started = time.perf_counter()
    index = build(settings, _load_model(settings), progress=_progress)
    m = index.manifest
    print(f"indexed {m.documents} documents into {m.passages} passages in {time.perf_counter() - started:.1f} seconds "
          f"({settings.index_dir})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the model and index (building it unless --no-build), then serve HTTP with uvicorn."""
    import uvicorn

    from qa.app import create_app
    from qa.index import ensure, load

    settings = _settings(args, host=args.host, port=args.port)
    if args.no_build:
        _require_index(settings, " (or drop --no-build)")
    _progress(f"loading model {settings.model}")
    encoder = _load_model(settings)
    if args.no_build:
        index = load(settings.index_dir, settings, encoder)
    else:
        index = ensure(settings, encoder, progress=_progress)
    _progress(f"serving {index.manifest.documents} documents on http://{settings.host}:{settings.port}")
    uvicorn.run(create_app(settings, index=index, model=encoder), host=settings.host, port=settings.port)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Run a question set through the engine and print hit rates, MRR and abstention figures."""
    from qa.evaluation import evaluate, load_questions

    if args.beir is not None:
        return _eval_beir(args)
    path: Path | None = args.questions
    if path is None:
        raise UserError("give a question file (qa eval QA.jsonl) or a BEIR folder (qa eval --beir DIR)")
    if not path.is_file():
        raise UserError(f"question file {path} does not exist (or is not a file)")
    questions = load_questions(path)
    engine = _open_engine(_settings(args))
    top_k: int = args.top_k
    report = evaluate(questions, lambda q: engine.ask(q, top_k=top_k))
    if args.json:
        _json(report)
        return 0
    print(format_report(report))
    if args.verbose:
        print(f"\nmisses at rank 1 ({len(report.misses)}):")
        for miss in report.misses:
            print(f"  {miss}")
    elif report.misses:
        print(f"\n{len(report.misses)} questions missed at rank 1; --verbose lists them")
    return 0


def _eval_beir(args: argparse.Namespace) -> int:
    """Index a BEIR corpus in memory, run the split's queries and print nDCG@10, recall and MRR."""
    from qa.benchmark import run_beir
    from qa.rerank import open_reranker

    settings = _settings(args)
    _progress(f"loading model {settings.model}")
    encoder, reranker = _load_model(settings), open_reranker(settings)
    result = run_beir(args.beir, args.split, settings, encoder, progress=_progress, run_out=args.run_out,
                      reranker=reranker)
    if args.json:
        _json({"metrics": result.metrics, "documents": result.documents, "passages": result.passages,
               "seconds": result.seconds})
        return 0
    print(format_benchmark(result))
    return 0


def cmd_documents(args: argparse.Namespace) -> int:
    """List the indexed documents: id, date, author, title (tab-separated)."""
    from qa.index import load

    settings = _settings(args)
    _require_index(settings)
    index = load(settings.index_dir, settings, check_corpus=False)
    for doc in sorted(index.documents.values(), key=lambda d: d.id):
        print(f"{doc.id}\t{doc.date or '-'}\t{doc.author or '-'}\t{doc.title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

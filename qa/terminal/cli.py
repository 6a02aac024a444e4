"""Command line: `ask` and `qa index|serve|mcp|ask|eval|documents|add|rm|sync`: parse flags, run, one `error:` line."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from qa.base.errors import QAError
from qa.base.settings import LOCK_SCOPES
from qa.service.files import BATCH
from qa.terminal.archive_commands import cmd_add, cmd_rm, cmd_sync
from qa.terminal.commands import UserError, cmd_ask, cmd_documents, cmd_eval, cmd_index, cmd_mcp, cmd_serve
from qa.terminal.render import printable

QUIET_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"}
Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `qa`; returns the exit code."""
    return _run(_qa_parser(), argv)


def ask_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `ask`; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="ask", description="Answer a question from the indexed articles, with citations."
    )
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
    print(f"error: {printable(' '.join(message.split()))}", file=sys.stderr)
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
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="language model that writes the answer, from the allow-list "
        "(env QA_LLM_MODEL; default extractive: quotes, no model)",
    )
    parser.add_argument("--json", action="store_true", help="print the POST /ask response JSON")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also show each passage's dense, keyword and fused scores and the settings behind them",
    )
    where = parser.add_argument_group("which articles the answer may draw on")
    where.add_argument(
        "--doc-id", action="append", dest="doc_ids", metavar="ID", help="only this document (repeat for more)"
    )
    where.add_argument("--author", help="only articles whose author contains this (case-insensitive)")
    where.add_argument("--source", help="only articles whose outlet contains this (case-insensitive)")
    where.add_argument("--after", metavar="YYYY-MM-DD", help="only articles dated on or after this day")
    where.add_argument("--before", metavar="YYYY-MM-DD", help="only articles dated on or before this day")
    where.add_argument("--recent", action="store_true", help="prefer newer articles among equally good passages")
    _common(parser)
    parser.set_defaults(command=cmd_ask)


def _writes(parser: argparse.ArgumentParser, *, batched: bool = True) -> None:
    """Flags of the commands that write the archive (they need no corpus folder)."""
    if batched:
        parser.add_argument(
            "--batch", type=int, default=BATCH, metavar="N", help=f"documents per saved write (default {BATCH})"
        )
    parser.add_argument("--index", type=Path, metavar="DIR", help="index folder (env QA_INDEX_DIR)")
    parser.add_argument("--embedding-model", metavar="NAME", help="embedding model name or folder (env QA_MODEL)")
    parser.set_defaults(corpus=None)


def _qa_parser() -> argparse.ArgumentParser:
    """The `qa` parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="qa", description="Question answering over a folder of articles.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    p = sub.add_parser("index", help="build the index of the corpus", description="Build the index of the corpus.")
    _common(p)
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="build on Ray: a new local cluster of QA_RAY_WORKERS CPUs, or the cluster at ADDRESS (host:port)",
    )
    p.set_defaults(command=cmd_index)

    p = sub.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service, building the index first when it is missing or stale.",
    )
    p.add_argument("--host", help="address to listen on (env QA_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (env QA_PORT, default 8000)")
    p.add_argument("--no-build", action="store_true", help="fail instead of building a missing or stale index")
    p.add_argument(
        "--workers", type=int, help="worker processes sharing the index (env QA_WORKERS, default one per core)"
    )
    p.add_argument(
        "--lock-index",
        nargs="?",
        const="all",
        choices=LOCK_SCOPES,
        metavar="SCOPE",
        help="keep the index's files locked in memory, out of the kernel's reclaim: all of them (the default SCOPE)"
        " or those every search reads at random (search); env QA_LOCK_INDEX",
    )
    _common(p)
    p.set_defaults(command=cmd_serve)

    p = sub.add_parser(
        "mcp",
        help="serve the Model Context Protocol on stdio",
        description="Serve the tools search, ask and get_document and the articles as resources to a chat app "
        "over stdio (Model Context Protocol), building the index first when it is missing or stale.",
    )
    p.add_argument("--no-build", action="store_true", help="fail instead of building a missing or stale index")
    _common(p)
    p.set_defaults(command=cmd_mcp)

    _ask_arguments(sub.add_parser("ask", help="answer a question", description="Answer a question, with citations."))

    p = sub.add_parser(
        "eval",
        help="score retrieval on a question set or a BEIR benchmark",
        description="Score retrieval and abstention on a JSON Lines question set, or retrieval on a "
        "BEIR folder (indexed in memory with the same pipeline).",
    )
    p.add_argument(
        "questions", type=Path, metavar="QA.jsonl", nargs="?", help="question set, e.g. tests/data/dev_qa.jsonl"
    )
    p.add_argument("--beir", type=Path, metavar="DIR", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--split", default="train", help="qrels split with --beir (default train)")
    p.add_argument("--run-out", type=Path, metavar="FILE", help="with --beir: write a TREC run file")
    p.add_argument("--top-k", type=int, default=10, metavar="N", help="passages retrieved per question (default 10)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="list the questions missed at rank 1")
    _common(p)
    p.set_defaults(command=cmd_eval)

    p = sub.add_parser(
        "documents",
        help="list the indexed articles",
        description="List the indexed articles: id, date, author, title (tab-separated).",
    )
    _common(p)
    p.set_defaults(command=cmd_documents)

    p = sub.add_parser(
        "add",
        help="add or update articles in the index",
        description="Add articles to the index on disk, or update them (a file's name is its id; re-adding an "
        "unchanged article changes nothing). Folders give their supported files, not their subfolders.",
    )
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="article file, folder or .jsonl file")
    _writes(p)
    p.set_defaults(command=cmd_add)

    p = sub.add_parser(
        "rm", help="delete articles from the index", description="Delete articles by id, all of them or none."
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="document id (`qa documents` lists them)")
    _writes(p, batched=False)
    p.set_defaults(command=cmd_rm)

    p = sub.add_parser(
        "sync",
        help="make the index match a folder",
        description="Add the folder's new articles, update changed ones and delete the articles read from its "
        "files that are gone. Articles sent over the API or read from elsewhere are never deleted.",
    )
    p.add_argument("folder", type=Path, metavar="DIR", help="folder of articles (its subfolders are not read)")
    p.add_argument("--dry-run", action="store_true", help="only print what would change")
    _writes(p)
    p.set_defaults(command=cmd_sync)
    return parser


def _version() -> str:
    """The installed package version."""
    try:
        return metadata.version("articleqa")
    except metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())

"""Read a BEIR dataset folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from qa.base.errors import InvalidInput
from qa.base.records import Document
from qa.store.corpus import fallback_title

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_DIR = "qrels"
QRELS_SUFFIX = ".tsv"
TITLE_SEPARATOR = "\n\n"


def load_corpus(folder: Path) -> list[Document]:
    """One Document per line of ``corpus.jsonl``; its text is ``title + "\\n\\n" + text`` when it has a title.

    Documents are built directly, not through ``make_document``: its sentence cleaning costs about 1.4 ms a
    document (7 s for SciFact) and only finds metadata that BEIR already gives. An empty title falls back to
    the first words of the text, as ``make_document`` does when it finds no headline.
    """
    docs: list[Document] = []
    seen: dict[str, int] = {}
    path = _file(folder, CORPUS_FILE)
    for lineno, rec in _records(path):
        doc_id = _id(path, lineno, rec)
        if doc_id in seen:
            raise InvalidInput(f"{path}:{lineno}: _id {doc_id!r} repeats line {seen[doc_id]}; remove one of them")
        seen[doc_id] = lineno
        title, body = _string(path, lineno, rec, "title").strip(), _string(path, lineno, rec, "text", required=True)
        text = title + TITLE_SEPARATOR + body if title else body
        docs.append(
            Document(id=doc_id, title=title or fallback_title(body, doc_id), text=text, origin=f"{path}:{lineno}")
        )
    return docs


def load_queries(folder: Path) -> dict[str, str]:
    """Query id -> query text from ``queries.jsonl``."""
    queries: dict[str, str] = {}
    path = _file(folder, QUERIES_FILE)
    for lineno, rec in _records(path):
        qid = _id(path, lineno, rec)
        if qid in queries:
            raise InvalidInput(f"{path}:{lineno}: _id {qid!r} appears twice; remove one of the lines")
        queries[qid] = _string(path, lineno, rec, "text", required=True)
    return queries


def splits(folder: Path) -> list[str]:
    """Names of the qrels splits in ``folder/qrels`` (``train``, ``dev``, ``test`` …), sorted."""
    qrels = folder / QRELS_DIR
    if not qrels.is_dir():
        raise InvalidInput(f"{qrels} does not exist; a BEIR folder needs qrels/<split>{QRELS_SUFFIX} files")
    return sorted(p.stem for p in qrels.iterdir() if p.is_file() and p.suffix == QRELS_SUFFIX)


def load_qrels(folder: Path, split: str) -> dict[str, dict[str, int]]:
    """Query id -> document id -> relevance from ``qrels/<split>.tsv``; a non-numeric first row is the header."""
    available = splits(folder)
    if split not in available:
        found = ", ".join(available) or "none"
        raise InvalidInput(f"no qrels for split {split!r} in {folder / QRELS_DIR} (available: {found}); pick one")
    path = folder / QRELS_DIR / f"{split}{QRELS_SUFFIX}"
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
            raise InvalidInput(
                f"{path}:{lineno}: expected 3 tab-separated fields (query-id, corpus-id, score), got {line!r}"
            )
        qid, doc_id, raw = (f.strip() for f in fields)
        try:
            score = int(raw)
        except ValueError:
            if lineno == 1:
                continue  # the header line: query-id, corpus-id, score
            raise InvalidInput(f"{path}:{lineno}: score {raw!r} is not an integer; fix the line") from None
        judged = qrels.setdefault(qid, {})
        if judged.get(doc_id, score) != score:
            raise InvalidInput(f"{path}:{lineno}: {qid} / {doc_id} was already judged {judged[doc_id]}, now {score}")
        judged[doc_id] = score
    if not qrels:
        raise InvalidInput(f"{path} has no judgements; add query-id, corpus-id, score rows")
    return qrels


def queries_for_split(queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict[str, str]:
    """The queries judged in ``qrels`` (the ones to evaluate), in the order of ``queries``."""
    missing = [qid for qid in qrels if qid not in queries]
    if missing:
        raise InvalidInput(
            f"{len(missing)} judged queries are not in {QUERIES_FILE} (e.g. {', '.join(missing[:5])}); "
            "use the queries file of the same dataset"
        )
    return {qid: text for qid, text in queries.items() if qid in qrels}


def _file(folder: Path, name: str) -> Path:
    """``folder/name``, failing with what is missing."""
    if not folder.is_dir():
        raise InvalidInput(f"BEIR folder {folder} does not exist; pass a folder with {CORPUS_FILE} and {QUERIES_FILE}")
    path = folder / name
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist; a BEIR folder needs {CORPUS_FILE}, {QUERIES_FILE} and qrels/")
    return path


def _read(path: Path) -> str:
    """The file's text, failing on bad UTF-8."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); re-save it as UTF-8"
        ) from None


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for every non-blank line."""
    out = []
    for lineno, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"{path}:{lineno}: not valid JSON ({exc}); fix or remove the line") from None
        if not isinstance(rec, dict):
            raise InvalidInput(f"{path}:{lineno}: expected a JSON object with _id and text")
        out.append((lineno, rec))
    return out


def _id(path: Path, lineno: int, rec: dict[str, Any]) -> str:
    """The record's ``_id`` as a string (numbers allowed), failing when it is missing or empty."""
    value = rec.get("_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise InvalidInput(f"{path}:{lineno}: missing or empty '_id'; every line needs a string '_id'")
    return str(value).strip()


def _string(path: Path, lineno: int, rec: dict[str, Any], key: str, *, required: bool = False) -> str:
    """A string field; '' when an optional one is absent or null."""
    value = rec.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{path}:{lineno}: missing '{key}'; every line needs a string '{key}'")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{path}:{lineno}: '{key}' must be a string, got {type(value).__name__}")
    return value

"""Read a folder of articles (.txt, .md, .html, .jsonl) into Documents; a file's stem is its id."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from qa.base.errors import CorpusError
from qa.base.figures import parse_date
from qa.base.records import Document
from qa.store.cleaning import clean
from qa.store.html_article import read_html

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl",)
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + JSONL_SUFFIXES
FALLBACK_TITLE_CHARS = 80
# Category C except Cf: format characters (ZWNJ, ZWJ, soft hyphen) belong to ordinary Urdu, Persian or emoji text.
CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})
CONTROL_SHARE = 0.1  # a text whose visible characters are more than this share control characters is not an article


@dataclass(frozen=True)
class Corpus:
    """The usable documents of a corpus folder, each source skipped (``source: why``) and the hash of what was read."""

    documents: list[Document]
    skipped: list[str]
    sha256: str


def corpus_files(folder: Path) -> list[Path]:
    """The supported files directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; create it or set QA_CORPUS_DIR / --corpus")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise CorpusError(f"corpus folder {folder} has no {', '.join(SUFFIXES)} files; add articles to it")
    return files


def corpus_hash(folder: Path) -> str:
    """sha256 over the names and bytes of the corpus files: changes whenever the corpus does."""
    digest = hashlib.sha256()
    for path in corpus_files(folder):
        digest.update(_hashed(path, path.read_bytes()))
    return digest.hexdigest()


def _hashed(path: Path, data: bytes) -> bytes:
    """What the corpus hash takes in for one file: its name and its bytes."""
    return path.name.encode() + b"\0" + data + b"\0"


def read_corpus(folder: Path) -> Corpus:
    """Every usable document in ``folder`` (ids unique across files), skipping sources with no article text.

    Each file is read once: the documents and the hash describe the same bytes. A corpus with nothing left is
    a CorpusError listing what was skipped.
    """
    docs: list[Document] = []
    skipped: list[str] = []
    digest = hashlib.sha256()
    for path in corpus_files(folder):
        data = path.read_bytes()
        digest.update(_hashed(path, data))
        found, passed_over = usable_documents(path, data)
        docs += found
        skipped += passed_over
    return checked_corpus(folder, docs, skipped, digest.hexdigest())


def usable_documents(path: Path, data: bytes) -> tuple[list[Document], list[str]]:
    """The usable documents in one file's bytes, and each source skipped (``source: why``)."""
    docs: list[Document] = []
    skipped: list[str] = []
    for doc in parse_file(path, data):
        why = unusable(doc.text)
        if why is None:
            docs.append(doc)
        else:
            skipped.append(f"{doc.origin}: {why}")
    return docs, skipped


def checked_corpus(folder: Path, docs: list[Document], skipped: list[str], sha256: str) -> Corpus:
    """The corpus of the documents read from ``folder`` in file order: a CorpusError when none is usable."""
    if not docs:
        shown = "; ".join(skipped[:3]) + ("; …" if len(skipped) > 3 else "")
        raise CorpusError(f"corpus folder {folder} holds no article text to index (skipped {shown}); add articles")
    return Corpus(unique(docs), skipped, sha256)


def load_corpus(folder: Path) -> list[Document]:
    """Every usable document in ``folder``; ids must be unique across files."""
    return read_corpus(folder).documents


def unusable(text: str) -> str | None:
    """Why a text is no article (nothing but whitespace, or mostly control characters), or None when it is one."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return "no text (empty or only whitespace)"
    control = sum(unicodedata.category(c) in CONTROL_CATEGORIES for c in visible)
    if control > CONTROL_SHARE * len(visible):
        return (
            f"{control} of its {len(visible)} visible characters are control characters, not article text "
            "(a binary or UTF-16 file? save it as UTF-8 text)"
        )
    return None


def id_problem(doc_id: str) -> str | None:
    """Why a document id could not be fetched back at ``GET /documents/{id}`` or printed, or None when it can."""
    if not doc_id.strip():
        return "is empty"
    if doc_id in (".", ".."):
        return "is . or .., which URL paths read as folder steps"
    if "/" in doc_id or "\\" in doc_id:
        return "contains / or \\, which URL paths read as folder separators"
    bad = next((c for c in doc_id if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        return f"contains the control character U+{ord(bad):04X}"
    return None


def unique(docs: Iterable[Document]) -> list[Document]:
    """The documents, failing on a repeated id."""
    seen: dict[str, Document] = {}
    for doc in docs:
        if doc.id in seen:
            raise CorpusError(
                f"document id {doc.id!r} appears twice ({seen[doc.id].origin} and {doc.origin}); rename one"
            )
        seen[doc.id] = doc
    return list(seen.values())


def load_file(path: Path) -> list[Document]:
    """The documents in one file (one, except for JSON Lines)."""
    return parse_file(path, path.read_bytes())


def parse_file(path: Path, data: bytes) -> list[Document]:
    """The documents in the bytes of the file at ``path``; its name gives the format and (but for JSON Lines) the id."""
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from None
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _from_jsonl(path, raw)
    why = id_problem(path.stem)
    if why is not None:
        raise CorpusError(f"{path}: its name gives the document id {path.stem!r}, which {why}; rename the file")
    if suffix in HTML_SUFFIXES:
        return [from_html(path, raw)]
    return [make_document(path.stem, raw, origin=str(path))]


def make_document(
    doc_id: str,
    text: str,
    *,
    title: str | None = None,
    author: str | None = None,
    date: str | None = None,
    source: str | None = None,
    url: str | None = None,
    origin: str | None = None,
) -> Document:
    """A Document whose missing metadata is read from the text itself, with its content hash."""
    found = clean(text)
    return stamped(
        Document(
            id=doc_id,
            text=text,
            source=source,
            url=url,
            origin=origin,
            title=title or found.title or fallback_title(text, doc_id),
            author=author or found.author,
            date=(parse_date(date) or date) if date else found.date,
        )
    )


def content_hash(doc: Document) -> str:
    """sha256 over what a reader sees of a document: text and metadata (not where or when it was added)."""
    fields = (doc.title, doc.text, doc.author, doc.date, doc.source, doc.url)
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def content_id(text: str) -> str:
    """The id of a document sent without one: derived from its text, so sending it again finds it."""
    return "doc-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def stamped(doc: Document) -> Document:
    """The document with its content hash."""
    return msgspec.structs.replace(doc, sha256=content_hash(doc))


def fallback_title(text: str, doc_id: str) -> str:
    """The first words of the text, for articles with no headline."""
    words = " ".join(text.split())
    if not words:
        return doc_id
    if len(words) <= FALLBACK_TITLE_CHARS:
        return words
    return words[:FALLBACK_TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def _from_jsonl(path: Path, raw: str) -> list[Document]:
    """One document per line: ``{"id", "text", "title"?, "author"?, "date"?}``."""
    docs = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove the line") from None
        if not isinstance(rec, dict):
            raise CorpusError(f"{path}:{lineno}: expected a JSON object with id and text")
        doc_id, text = rec.get("id", rec.get("_id")), rec.get("text")
        if not isinstance(doc_id, str | int) or not isinstance(text, str) or not str(doc_id).strip():
            raise CorpusError(f"{path}:{lineno}: each line needs a string 'id' and a string 'text'")
        why = id_problem(str(doc_id))
        if why is not None:
            raise CorpusError(f"{path}:{lineno}: document id {str(doc_id)!r} {why}; change the id")
        meta = {
            k: rec[k] if isinstance(rec.get(k), str) and rec[k].strip() else None
            for k in ("title", "author", "date", "source", "url")
        }
        if not all(_encodable(v) for v in (text, *meta.values()) if v is not None):
            raise CorpusError(
                f"{path}:{lineno}: holds a lone surrogate escape (such as \\ud800 without its pair), "
                "which is no text; fix the line"
            )
        docs.append(make_document(str(doc_id), text, origin=f"{path}:{lineno}", **meta))
    return docs


def _encodable(text: str) -> bool:
    """True when the text can be written as UTF-8 (no lone surrogates, which JSON escapes can smuggle in)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def from_html(path: Path, raw: str) -> Document:
    """A document from an HTML page (its file stem is the id)."""
    text, meta = read_html(raw)
    return make_document(path.stem, text, origin=str(path), **meta)

"""What clients submit: articles for the archive (their JSON shape, how each becomes a Document, what a write
reports) and the checks on a question, its ``top_k`` and its filter."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from qa.base.errors import InvalidInput
from qa.base.records import Document, Filter
from qa.base.settings import AnswerSettings
from qa.store.corpus import content_id, id_problem, make_document, unusable

DATE = msgspec.Meta(
    pattern=r"^\d{4}-\d{2}-\d{2}$", description="Publication date, YYYY-MM-DD.", examples=["2023-12-11"]
)
EXAMPLE = '{"title": "Quetta sit-in ends", "text": "The sit-in in Quetta ended on Monday…", "date": "2024-01-23"}'


class DocumentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An article to add: ``text`` is required; without ``id`` one is derived from the text."""

    text: str
    id: str | None = None
    title: str | None = None
    author: str | None = None
    date: Annotated[str, DATE] | None = None
    source: Annotated[str, msgspec.Meta(description="The outlet that published it.", examples=["Dawn"])] | None = None
    url: str | None = None


class WriteOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a write did to one article: ``added``, ``updated``, ``unchanged`` or ``deleted``, and its passages.

    ``duplicate_of`` names the article this one copies: it is kept and cited, but its passages are not indexed.
    """

    id: str
    status: str
    passages: int
    duplicate_of: str | None = None


def to_document(body: DocumentIn, doc_id: str | None = None, *, where: str = "") -> Document:
    """The Document for an article sent over the API, or InvalidInput saying what to fix (``where``: which one)."""
    at = f"{where}: " if where else ""
    if body.id is not None and doc_id is not None and body.id != doc_id:
        raise InvalidInput(f"{at}the body's id {body.id!r} differs from the id {doc_id!r} in the path; drop one")
    why = unusable(body.text)
    if why is not None:
        raise InvalidInput(f'{at}text: {why}; send the article\'s text in the "text" field')
    final_id = doc_id or body.id or content_id(body.text)
    problem = id_problem(final_id)
    if problem is not None:
        raise InvalidInput(f"{at}id {final_id!r} {problem}; choose another id")
    check_date(body.date, f"{at}date")
    if body.url is not None and not body.url.startswith(("http://", "https://")):
        raise InvalidInput(f"{at}url must start with http:// or https://, got {body.url[:80]!r}")
    return make_document(
        final_id, body.text, title=body.title, author=body.author, date=body.date, source=body.source, url=body.url
    )


def check_date(value: str | None, name: str) -> None:
    """InvalidInput unless the value is None or a real calendar date written YYYY-MM-DD."""
    if value is None:
        return
    try:
        ok = len(value) == 10 and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    if not ok:
        raise InvalidInput(f"{name} must be a calendar date written YYYY-MM-DD, got {value[:40]!r}")


def check_filter(found: Filter | None) -> Filter | None:
    """The filter with its dates checked, or InvalidInput naming the field."""
    if found is None:
        return None
    check_date(found.after, "filter.after")
    check_date(found.before, "filter.before")
    if found.after and found.before and found.after > found.before:
        raise InvalidInput(f"filter.after ({found.after}) is later than filter.before ({found.before}); swap them")
    return found


def parse_lines(data: bytes) -> list[DocumentIn]:
    """Articles sent as JSON Lines (blank lines skipped), or InvalidInput naming the first bad line."""
    decoder = msgspec.json.Decoder(DocumentIn)
    out = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(decoder.decode(line))
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"line {number}: {exc}; each line is one article like {EXAMPLE}") from None
        except msgspec.DecodeError as exc:
            raise InvalidInput(
                f"line {number} is not valid JSON ({exc}); each line is one article like {EXAMPLE}"
            ) from None
    if not out:
        raise InvalidInput(f"no articles in the body; send one JSON object per line like {EXAMPLE}")
    return out


def check_question(question: str, limits: AnswerSettings) -> str:
    """The question stripped, or InvalidInput saying what is wrong with it."""
    text = question.strip()
    if not text:
        raise InvalidInput('question is empty; send the question text in the "question" field')
    if len(text) > limits.max_question_chars:
        raise InvalidInput(
            f"question is {len(text)} characters long; the limit is {limits.max_question_chars}: shorten it"
        )
    return text


def check_top_k(top_k: int | None, limits: AnswerSettings) -> int:
    """``top_k`` as an int within 1..max_top_k (default when None), or InvalidInput."""
    if top_k is None:
        return limits.default_top_k
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= limits.max_top_k:
        raise InvalidInput(f"top_k must be a whole number from 1 to {limits.max_top_k}, got {top_k!r}")
    return top_k

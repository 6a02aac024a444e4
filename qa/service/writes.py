"""The engine's writes: add, replace and remove articles, one at a time or as one all-or-nothing batch."""

from __future__ import annotations

from collections.abc import Sequence

from qa.base.errors import ConfigError
from qa.base.records import Document
from qa.service.submissions import DocumentIn, WriteOut, to_document
from qa.service.wire import shape
from qa.store.archive import Archive, Outcome
from qa.store.corpus import stamped


class Writes:
    """What the engine does to the archive it serves (``archive``: None for an index held only in memory)."""

    archive: Archive | None

    def _writer(self) -> Archive:
        """The archive writes go to, or ConfigError for an engine over an index held only in memory."""
        if self.archive is None:
            raise ConfigError("this engine serves an index held in memory; open it from a folder to write")
        return self.archive

    def add(self, body: DocumentIn) -> WriteOut:
        """Add one article (``unchanged`` when the archive holds it already; Conflict when its id holds other text)."""
        return _out(self._writer().put([to_document(body)], create_only=True))[0]

    def replace(self, doc_id: str, body: DocumentIn) -> WriteOut:
        """Put an article under an id, replacing what it held (``added`` when the id was free)."""
        return _out(self._writer().put([to_document(body, doc_id)]))[0]

    def remove(self, doc_id: str) -> None:
        """Delete an article: its passages leave the dense and keyword indexes and the sentence table."""
        self._writer().remove([doc_id])

    def batch(self, bodies: Sequence[DocumentIn]) -> list[WriteOut]:
        """Add or replace many articles as one write: all of them, or (on any error) none."""
        docs = [to_document(b, where=f"line {i}") for i, b in enumerate(bodies, 1)]
        return _out(self._writer().put(docs))

    def put_documents(self, docs: Sequence[Document]) -> list[WriteOut]:
        """Add or replace documents already read (from files) as one write: all of them or none."""
        return _out(self._writer().put([stamped(d) for d in docs]))

    def remove_documents(self, doc_ids: Sequence[str]) -> list[WriteOut]:
        """Delete documents as one write; any unknown id is NotFound and nothing is deleted."""
        return _out(self._writer().remove(doc_ids))


def _out(outcomes: Sequence[Outcome]) -> list[WriteOut]:
    """The wire form of write outcomes."""
    return [shape(o, WriteOut) for o in outcomes]

"""Reading articles from paths for the archive, and writing them in batches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from qa.base.errors import Conflict, CorpusError
from qa.service import files
from qa.service.submissions import WriteOut


class Flaky:
    """An engine stand-in whose writes fail from the ``fail_at``-th call on."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.calls: list[list[str]] = []

    def remove_documents(self, ids: Sequence[str]) -> list[WriteOut]:
        self.calls.append(list(ids))
        if len(self.calls) >= self.fail_at:
            raise Conflict("the archive changed under this write")
        return [WriteOut(id=i, status="deleted", passages=0) for i in ids]


def test_batches_report_progress_and_a_late_failure_says_what_was_saved() -> None:
    ticks: list[tuple[int, int]] = []
    engine = Flaky(fail_at=99)
    outs = files.remove_in_batches(engine, list("abcde"), size=2, tick=lambda d, t: ticks.append((d, t)))
    assert [o.id for o in outs] == list("abcde") and engine.calls == [["a", "b"], ["c", "d"], ["e"]]
    assert ticks == [(2, 5), (4, 5), (5, 5)]
    with pytest.raises(Conflict, match=r"changed under this write \(the 4 before this batch were saved; run"):
        files.remove_in_batches(Flaky(fail_at=3), list("abcde"), size=2)
    with pytest.raises(Conflict) as first:
        files.remove_in_batches(Flaky(fail_at=1), list("abcde"), size=2)
    assert str(first.value) == "the archive changed under this write"


def test_origin_file_reads_jsonl_lines_and_leaves_api_articles_out(tmp_path: Path) -> None:
    assert files.origin_file(f"{tmp_path}/a.jsonl:12") == tmp_path / "a.jsonl"
    assert files.origin_file(f"{tmp_path}/b.txt") == tmp_path / "b.txt"
    assert files.origin_file(None) is None


def test_read_paths_refuses_an_id_read_twice(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "otters.txt").write_text("Otters were seen.", encoding="utf-8")
    (tmp_path / "otters.md").write_text("Otters again.", encoding="utf-8")
    with pytest.raises(CorpusError, match="'otters' appears twice"):
        files.read_paths([tmp_path / "one", tmp_path / "otters.md"])
    reading = files.read_paths([tmp_path / "one", tmp_path / "one" / "otters.txt"])  # the same file once
    assert [d.id for d in reading.documents] == ["otters"]

"""`qa add`, `qa rm`, `qa sync` and the ask filter flags, run in process against a copy of the seeds index."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS, FakeEncoder

import qa.service.lifecycle
from qa.base.records import Document
from qa.base.settings import Settings
from qa.service import files
from qa.service.engine import Engine
from qa.service.submissions import DocumentIn
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.store.snapshot import build
from qa.terminal import cli

OTTERS = (
    "Otters return to the harbour\n\nFishermen counted seventeen otters near the lighthouse pier on Tuesday, "
    "the harbour master said. The otters had not been seen there for thirty years.\n"
)


@dataclass(frozen=True)
class Archive:
    """A temporary index the CLI writes: flags for the write commands and for `ask` (which also names the corpus)."""

    settings: Settings

    @property
    def write(self) -> list[str]:
        return ["--index", str(self.settings.build.index_dir)]

    @property
    def read(self) -> list[str]:
        return ["--corpus", str(self.settings.build.corpus_dir), *self.write]

    def documents(self) -> dict[str, Document]:
        return {d.id: d for d in Engine.catalogue(self.settings)}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QA_* settings from the outer environment but torch embeddings, as in test_cli."""
    for key in list(os.environ):
        if key.startswith("QA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QA_EMBED_BACKEND", "torch")


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Archive:
    """The seeds indexed with the fake encoder in a temporary folder, which the CLI then opens with it."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    settings = Settings.of(corpus_dir=tmp_path / "seeds", index_dir=tmp_path / "index", embed_backend="torch")
    build(settings.build, FakeEncoder())
    monkeypatch.setattr(qa.service.lifecycle, "open_encoder", lambda *_a, **_k: FakeEncoder())
    return Archive(settings)


def error_line(err: str) -> str:
    """The single `error:` line of a failed command's stderr."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


def ask_json(archive: Archive, question: str, *flags: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """The `ask --json` response to a question."""
    assert cli.main(["ask", question, "--json", *flags, *archive.read]) == 0
    return json.loads(capsys.readouterr().out)


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_add_a_file_then_ask_finds_it_and_adding_again_changes_nothing(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = Engine.open(archive.settings)  # a server reading the same index all along
    article = tmp_path / "otters.txt"
    article.write_text(OTTERS, encoding="utf-8")
    assert cli.main(["add", str(article), *archive.write]) == 0
    assert capsys.readouterr().out == "added 1, updated 0, unchanged 0, grouped as copies 0\n"
    assert "otters" not in reader.index.documents and reader.refresh() and "otters" in reader.index.documents
    assert archive.documents()["otters"].origin == str(article.resolve())

    answer = ask_json(archive, "How many otters were counted near the lighthouse pier?", capsys=capsys)
    assert answer["answerable"] and answer["citations"][0]["doc_id"] == "otters"
    assert "seventeen" in answer["answer"]

    assert cli.main(["add", str(article), *archive.write]) == 0
    assert capsys.readouterr().out == "added 0, updated 0, unchanged 1, grouped as copies 0\n"
    article.write_text(OTTERS.replace("seventeen", "nineteen"), encoding="utf-8")
    assert cli.main(["add", str(tmp_path), *archive.write]) == 0  # a folder: its supported files
    assert capsys.readouterr().out == "added 0, updated 1, unchanged 0, grouped as copies 0\n"
    assert "nineteen" in archive.documents()["otters"].text and len(archive.documents()) == 6


def test_add_a_copy_of_an_indexed_article_reports_its_original(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = next(SEEDS.glob("*.txt"))
    shutil.copy(seed, tmp_path / "reprint.txt")
    assert cli.main(["add", str(tmp_path / "reprint.txt"), *archive.write]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "added 1, updated 0, unchanged 0, grouped as copies 1",
        f"copy reprint of {seed.stem} (kept and cited, not indexed again)",
    ]
    assert archive.documents()["reprint"].duplicate_of == seed.stem


def test_add_jsonl_keeps_metadata_and_line_origins(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"id": "harbour", "text": OTTERS, "author": "Jane Roe", "source": "Coast Times", "date": "2024-03-05"},
        {"id": "bridge", "text": "The old stone bridge reopened on Monday after two years of repairs."},
    ]
    batch = write_jsonl(tmp_path / "batch.jsonl", rows)
    assert cli.main(["add", str(batch), *archive.write]) == 0
    assert capsys.readouterr().out.startswith("added 2, updated 0, unchanged 0")
    docs = archive.documents()
    assert docs["harbour"].author == "Jane Roe" and docs["harbour"].source == "Coast Times"
    assert docs["harbour"].date == "2024-03-05"
    assert docs["bridge"].origin == f"{batch.resolve()}:2"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"id": "ok", "text": "Fine text."}\n{"id": "broken", \n', "bad.jsonl:2: not valid JSON"),
        ("notes.rtf", "{\\rtf1 hello}", "notes.rtf is not an article file"),
        ("missing.txt", None, "missing.txt: no such file or folder"),
    ],
)
def test_a_bad_file_is_one_error_line_and_nothing_is_written(
    archive: Archive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    message: str,
) -> None:
    good = tmp_path / "otters.txt"
    good.write_text(OTTERS, encoding="utf-8")
    if content is not None:
        (tmp_path / name).write_text(content, encoding="utf-8")
    assert cli.main(["add", str(good), str(tmp_path / name), *archive.write]) == 1
    captured = capsys.readouterr()
    assert message in error_line(captured.err) and captured.out == ""
    assert "otters" not in archive.documents() and len(archive.documents()) == 5


def test_rm_deletes_and_says_so(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, *rest = sorted(archive.documents())
    assert cli.main(["rm", first, second, *archive.write]) == 0
    assert capsys.readouterr().out == f"deleted {first}\ndeleted {second}\n"
    assert sorted(archive.documents()) == rest


def test_rm_an_unknown_id_deletes_nothing(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    first = sorted(archive.documents())[0]
    assert cli.main(["rm", first, "no-such-article", *archive.write]) == 1
    line = error_line(capsys.readouterr().err)
    assert "'no-such-article'" in line and "nothing was deleted" in line
    assert first in archive.documents() and len(archive.documents()) == 5


def test_sync_adds_updates_and_removes_only_what_its_folder_held(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, other = tmp_path / "feed", tmp_path / "other"
    folder.mkdir()
    other.mkdir()
    (folder / "otters.txt").write_text(OTTERS, encoding="utf-8")
    (folder / "bridge.md").write_text("Bridge reopens\n\nThe old stone bridge reopened on Monday.\n", encoding="utf-8")
    write_jsonl(folder / "wire.jsonl", [{"id": "w1", "text": "Rain fell all week."}, {"id": "w2", "text": "Snow."}])
    (other / "kept.txt").write_text("A note from another folder about lighthouses.\n", encoding="utf-8")
    assert cli.main(["add", str(other), *archive.write]) == 0
    engine = files.open_writer(archive.settings)
    engine.add(DocumentIn(id="api-note", text="An article sent over the API about the harbour."))
    capsys.readouterr()

    assert cli.main(["sync", str(folder), *archive.write]) == 0
    assert capsys.readouterr().out == "added 4, updated 0, unchanged 0, removed 0, grouped as copies 0\n"

    (folder / "otters.txt").write_text(OTTERS.replace("seventeen", "nineteen"), encoding="utf-8")
    (folder / "bridge.md").unlink()
    write_jsonl(folder / "wire.jsonl", [{"id": "w2", "text": "Snow."}])
    (folder / "ferry.txt").write_text("Ferry resumes\n\nThe island ferry resumed service.\n", encoding="utf-8")
    assert cli.main(["sync", str(folder), "--dry-run", *archive.write]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "would add ferry",
        "would update otters",
        "would remove bridge",
        "would remove w1",
        "would add 1, update 1, leave 1 unchanged, remove 2 (dry run: nothing written)",
    ]
    assert "bridge" in archive.documents() and "ferry" not in archive.documents()

    assert cli.main(["sync", str(folder), *archive.write]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "removed bridge",
        "removed w1",
        "added 1, updated 1, unchanged 1, removed 2, grouped as copies 0",
    ]
    docs = archive.documents()
    assert {"ferry", "otters", "w2", "kept", "api-note"} <= set(docs) and not {"bridge", "w1"} & set(docs)
    assert "nineteen" in docs["otters"].text

    for path in folder.iterdir():  # an emptied folder: only its own articles go
        path.unlink()
    assert cli.main(["sync", str(folder), *archive.write]) == 0
    assert capsys.readouterr().out.endswith("removed 3, grouped as copies 0\n")
    assert set(archive.documents()) == {*(p.stem for p in SEEDS.glob("*.txt")), "kept", "api-note"}


def test_sync_of_a_missing_folder_fails_and_removes_nothing(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sync", str(tmp_path / "gone"), *archive.write]) == 1
    assert "gone is not a folder" in error_line(capsys.readouterr().err)
    assert len(archive.documents()) == 5


def test_multi_batch_runs_show_progress(archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": f"n{i}", "text": f"Note {i}: the council met about item {i} of the budget."} for i in range(5)]
    batch = write_jsonl(tmp_path / "notes.jsonl", rows)
    assert cli.main(["add", str(batch), "--batch", "2", *archive.write]) == 0
    captured = capsys.readouterr()
    bars = captured.err.splitlines()
    assert [b.rsplit(" ", 2)[-2] for b in bars] == ["2/5", "4/5", "5/5"], captured.err
    assert bars[-1] == "adding [" + "#" * 30 + "] 5/5 documents"
    assert captured.out.startswith("added 5, ")
    assert {f"n{i}" for i in range(5)} <= set(archive.documents())

    (tmp_path / "more.txt").write_text(OTTERS, encoding="utf-8")
    assert cli.main(["add", str(tmp_path / "more.txt"), "--batch", "2", *archive.write]) == 0
    assert capsys.readouterr().err == ""  # one batch: no bar


def test_filter_flags_restrict_the_citations(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"id": "roe", "text": OTTERS, "author": "Jane Roe", "source": "Coast Times", "date": "2023-04-01"},
        {
            "id": "doe",
            "text": OTTERS.replace("seventeen", "eleven").replace("Tuesday", "Friday"),
            "author": "John Doe",
            "source": "Harbour Herald",
            "date": "2024-06-01",
        },
    ]
    assert cli.main(["add", str(write_jsonl(tmp_path / "two.jsonl", rows)), *archive.write]) == 0
    capsys.readouterr()
    question = "How many otters were counted near the lighthouse pier?"
    unfiltered = ask_json(archive, question, capsys=capsys)
    assert {"roe", "doe"} <= {p["doc_id"] for p in unfiltered["passages"]}
    for flags, wanted in [
        (["--author", "roe"], "roe"),
        (["--source", "herald"], "doe"),
        (["--doc-id", "roe"], "roe"),
    ]:
        answer = ask_json(archive, question, *flags, capsys=capsys)
        assert {c["doc_id"] for c in answer["citations"]} == {wanted}, flags
        assert {p["doc_id"] for p in answer["passages"]} == {wanted}, flags
    dates = {doc_id: doc.date for doc_id, doc in archive.documents().items()}
    for flags, wanted, admits in [
        (["--after", "2024-01-01"], "doe", lambda day: day >= "2024-01-01"),
        (["--before", "2023-12-31", "--recent"], "roe", lambda day: day <= "2023-12-31"),
    ]:
        answer = ask_json(archive, question, *flags, capsys=capsys)
        assert {c["doc_id"] for c in answer["citations"]} == {wanted}, flags
        assert all(dates[p["doc_id"]] and admits(dates[p["doc_id"]][:10]) for p in answer["passages"]), flags
    both = ask_json(archive, question, "--doc-id", "roe", "--doc-id", "doe", capsys=capsys)
    assert {p["doc_id"] for p in both["passages"]} == {"roe", "doe"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--after", "2024-13-01"], "--after must be a calendar date written YYYY-MM-DD, got '2024-13-01'"),
        (["--before", "yesterday"], "--before must be a calendar date"),
        (["--after", "2024-05-01", "--before", "2024-01-01"], "--after 2024-05-01 is later than --before 2024-01-01"),
    ],
)
def test_bad_filter_dates_are_one_error_line(
    archive: Archive, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.ask_main(["Who led the march?", *flags, *archive.read]) == 1
    assert message in error_line(capsys.readouterr().err)


def test_an_added_article_answers_at_rank_1_with_the_real_model(
    encoder: SentenceEncoder,
    seed_settings: Settings,
    seed_index: Index,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(seed_settings.build.index_dir, tmp_path / "index")
    monkeypatch.setattr(qa.service.lifecycle, "open_encoder", lambda *_a, **_k: encoder)
    archive = Archive(Settings.of(corpus_dir=seed_settings.build.corpus_dir, index_dir=tmp_path / "index"))
    question = "How many otters did fishermen count near the lighthouse pier?"
    before = ask_json(archive, question, capsys=capsys)
    assert all(p["doc_id"] != "otters" for p in before["passages"])
    (tmp_path / "otters.txt").write_text(OTTERS, encoding="utf-8")
    assert cli.main(["add", str(tmp_path / "otters.txt"), *archive.write]) == 0
    assert capsys.readouterr().out.startswith("added 1, ")
    after = ask_json(archive, question, capsys=capsys)
    assert after["passages"][0]["doc_id"] == "otters"
    assert after["answerable"] and after["citations"][0]["doc_id"] == "otters" and "seventeen" in after["answer"]

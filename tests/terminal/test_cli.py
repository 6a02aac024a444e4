"""The command line: in-process calls of `main` / `ask_main`, plus one run of the installed `ask` script."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import pytest
import uvicorn
from conftest import DATA
from litestar import Litestar
from openai_stub import OpenAIStub, Reply

from qa.base.records import Answer, Hit, Passage, Scores
from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.service.wire import AskResponse
from qa.store.index import Index
from qa.store.onnx_encoder import BACKEND
from qa.terminal import cli, commands, workers
from qa.terminal.render import format_answer

QUESTION = "Who led the long march to Islamabad?"
CITATION_LINE = re.compile(r"^\[\d+\] .+ \(\S+, chars \d+-\d+\)$")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QA_* settings from the outer environment but torch embeddings, like the shared ``seed_index``.

    The default backend (ONNX int8) is exercised end to end by ``test_index_builds_a_tiny_corpus[default]``.
    """
    for key in list(os.environ):
        if key.startswith("QA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QA_EMBED_BACKEND", "torch")
    monkeypatch.setenv("QA_WORKERS", "1")  # in-process servers: the workers have their own test
    for key in cli.QUIET_ENV:
        monkeypatch.setenv(key, os.environ.get(key, cli.QUIET_ENV[key]))


@pytest.fixture
def seed_flags(seed_settings: Settings, seed_index: Index) -> list[str]:
    """Flags pointing the CLI at the session's seed corpus and index."""
    return ["--corpus", str(seed_settings.build.corpus_dir), "--index", str(seed_settings.build.index_dir)]


def error_line(err: str) -> str:
    """The single `error:` line of a failed command's stderr."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


def seed_text(settings: Settings, doc_id: str) -> str:
    """The text of a seed article exactly as the corpus reader sees it."""
    return (settings.build.corpus_dir / f"{doc_id}.txt").read_text(encoding="utf-8-sig").replace("\r\n", "\n")


def test_ask_prints_answer_and_citations(seed_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.ask_main([QUESTION, *seed_flags]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].strip() and re.search(r"\[\d+\]", lines[0])
    assert lines[1] == ""
    assert lines[2] == "Citations:"
    assert "[1]" in out
    assert CITATION_LINE.match(lines[3]), lines[3]
    assert lines[4].startswith('    "') and lines[4].endswith('"')


def test_ask_words_are_joined(seed_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", *QUESTION.split(), "--json", *seed_flags]) == 0
    assert json.loads(capsys.readouterr().out)["question"] == QUESTION


def test_ask_json_is_the_http_shape(
    seed_settings: Settings, seed_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["ask", QUESTION, "--json", "--top-k", "3", *seed_flags]) == 0
    out = capsys.readouterr().out
    assert out.endswith("}\n") and out.startswith("{\n  ")
    msgspec.json.decode(out, type=AskResponse)
    body = json.loads(out)
    assert set(body) == set(AskResponse.__struct_fields__) - {"explain"}
    assert {"question", "answerable", "answer", "passages", "timings_ms"} <= set(body)
    assert body["question"] == QUESTION
    assert body["answerable"] is True
    assert len(body["passages"]) == 3
    for rank, passage in enumerate(body["passages"], 1):
        assert set(passage) == {"rank", "doc_id", "title", "text", "start", "end", "score"}
        assert passage["rank"] == rank
        assert seed_text(seed_settings, passage["doc_id"])[passage["start"] : passage["end"]] == passage["text"]
    for citation in body["citations"]:
        assert seed_text(seed_settings, citation["doc_id"])[citation["start"] : citation["end"]] == citation["quote"]
        assert f"[{citation['n']}]" in body["answer"]


def test_ask_json_explain_has_scores(
    seed_settings: Settings, seed_index: Index, seed_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["ask", QUESTION, "--json", "--explain", "--top-k", "3", *seed_flags]) == 0
    out = capsys.readouterr().out
    msgspec.json.decode(out, type=AskResponse)
    body = json.loads(out)
    assert set(body) == set(AskResponse.__struct_fields__)
    assert body["explain"]["fusion"] == seed_settings.search.fusion
    assert body["explain"]["index_generation"] == seed_index.manifest.generation
    assert len(body["passages"]) == 3
    for passage in body["passages"]:
        assert set(passage["scores"]) == {"dense", "keyword", "sentence", "fused", "rerank"}
        assert isinstance(passage["scores"]["dense"], float)
        assert passage["scores"]["fused"] == passage["score"] and passage["scores"]["rerank"] is None
    fused = [p["scores"]["fused"] for p in body["passages"]]
    assert fused == sorted(fused, reverse=True)


def test_ask_explain_prints_scores_under_the_answer(seed_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.ask_main([QUESTION, "--explain", "--top-k", "3", *seed_flags]) == 0
    out = capsys.readouterr().out
    head, _, scores = out.partition("\nScores (fusion ")
    assert "Citations:" in head and scores
    rows = [line for line in scores.splitlines() if line.startswith("[")]
    assert len(rows) == 3
    for rank, row in enumerate(rows, 1):
        fields = r"fused [\d.]+  dense -?[\d.]+  keyword [\d.]+  sentence ([\d.]+|-)  rerank -"
        pattern = rf"^\[{rank}\] \S+ chars \d+-\d+: {fields}$"
        assert re.match(pattern, row), row


@pytest.mark.parametrize("args", [[], ["-"]], ids=["no-argument", "dash"])
def test_question_from_stdin(
    args: list[str], seed_flags: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"  {QUESTION}\n"))
    assert cli.ask_main([*args, "--json", *seed_flags]) == 0
    assert json.loads(capsys.readouterr().out)["question"] == QUESTION


def test_ask_without_index_says_to_run_qa_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-index"
    assert cli.ask_main(["--index", str(missing), "--corpus", str(tmp_path), "anything?"]) == 1
    captured = capsys.readouterr()
    assert "qa index" in error_line(captured.err)
    assert captured.out == ""
    assert not missing.exists()


def test_ask_with_stale_index_says_to_rebuild(
    seed_index: Index, seed_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "other"
    corpus.mkdir()
    (corpus / "a.txt").write_text("A different corpus.\n\nIt has one short article.\n", encoding="utf-8")
    assert cli.ask_main(["--index", str(seed_settings.build.index_dir), "--corpus", str(corpus), QUESTION]) == 1
    line = error_line(capsys.readouterr().err)
    assert "changed" in line and "qa index" in line


@pytest.mark.parametrize(
    ("args", "stdin"),
    [(["   "], ""), ([], ""), (["-"], " \n\t\n")],
    ids=["blank-argument", "empty-stdin", "blank-stdin"],
)
def test_empty_question_is_one_error_line(
    args: list[str], stdin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert cli.ask_main([*args, "--index", str(tmp_path)]) == 1
    assert "empty" in error_line(capsys.readouterr().err)


def test_bad_top_k_is_one_error_line(seed_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.ask_main([QUESTION, "--top-k", "0", *seed_flags]) == 1
    assert "top_k" in error_line(capsys.readouterr().err)


def test_unanswerable_lists_closest_passages() -> None:
    hit = Hit(
        rank=1,
        passage=Passage(doc_id="d1", start=10, end=30, text="Some  passage\ntext here."),
        title="A title",
        scores=Scores(dense=0.1, keyword=0.0, fused=0.01),
    )
    answer = Answer(
        question="q?",
        answerable=False,
        answer="The articles do not appear to answer this question.",
        confidence=0.12,
        reason="no_relevant_passage",
        citations=(),
        hits=(hit,),
        timings_ms={},
    )
    lines = format_answer(answer).splitlines()
    assert lines[0].startswith("No answer.") and "no relevant passage" in lines[0]
    assert "Closest passages:" in lines
    assert "[1] A title (d1, chars 10-30)" in lines
    assert '    "Some passage text here."' in lines


def test_eval_prints_the_table(seed_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", str(DATA / "dev_qa.jsonl"), "--verbose", *seed_flags]) == 0
    out = capsys.readouterr().out
    for label in ("hit@1", "hit@5", "MRR@10", "multi-source coverage", "abstention accuracy", "answerable abstained"):
        assert re.search(rf"^{re.escape(label)}\s+\d", out, re.MULTILINE), label
    assert "questions               40" in out
    assert "misses at rank 1" in out


def test_eval_json(seed_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (DATA / "dev_qa.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    small = tmp_path / "two.jsonl"
    small.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(["eval", str(small), "--json", *seed_flags]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 2
    assert {"hit_at_1", "hit_at_5", "mrr_at_10", "abstention_accuracy", "misses"} <= set(report)


def test_eval_of_a_follow_up_set(seed_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (DATA / "followups_dev.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    two = tmp_path / "two.jsonl"
    two.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(["eval", str(two), *seed_flags]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^conversations\s+2$", out, re.MULTILINE)
    for label in ("answer holds gold", "repeats an earlier quote", "evidence in top 5"):
        assert re.search(rf"^{label}\s+\d of 2 \(", out, re.MULTILINE), label
    assert cli.main(["eval", str(two), "--json", *seed_flags]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conversations"] == 2 and set(report) == {
        "conversations", "answer_match", "repeated", "evidence_at_5", "misses"
    }  # fmt: skip


def test_eval_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", str(tmp_path / "nope.jsonl"), "--index", str(tmp_path)]) == 1
    assert "nope.jsonl" in error_line(capsys.readouterr().err)


def test_eval_beir_prints_metrics_and_writes_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    docs = {"a": ("Otters", "Otters returned to the harbour."), "b": ("Herons", "Grey herons nest in tall trees.")}
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in docs.items())
    )
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "where do herons nest"}) + "\n")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq\tb\t1\n")
    run = tmp_path / "run.trec"
    assert cli.main(["eval", "--beir", str(folder), "--run-out", str(run)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ndcg@10\s+1\.0$", out, re.MULTILINE), out
    assert re.search(r"^recall@100\s+1\.0$", out, re.MULTILINE)
    assert run.read_text().splitlines()[0].split()[:4] == ["q", "Q0", "b", "1"]


def test_eval_needs_a_file_or_a_beir_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval"]) == 1
    assert "--beir" in error_line(capsys.readouterr().err)


@pytest.mark.parametrize("backend", ["default", "torch"])
def test_index_builds_a_tiny_corpus(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "default":
        monkeypatch.delenv("QA_EMBED_BACKEND")  # the shipped default: ONNX int8, exported beside the index
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "alpha.txt").write_text(
        "Otters at the harbour\n\nThe otters returned to the harbour in spring. "
        "Fishermen counted twelve of them near the pier.\n",
        encoding="utf-8",
    )
    (corpus / "beta.txt").write_text(
        "Bridge reopens\n\nThe old stone bridge reopened on Monday after two years of repairs, the mayor said.\n",
        encoding="utf-8",
    )
    flags = ["--corpus", str(corpus), "--index", str(index)]
    assert cli.main(["index", *flags]) == 0
    captured = capsys.readouterr()
    assert (index / "manifest.json").is_file()
    assert re.fullmatch(r"indexed 2 documents into \d+ passages in [\d.]+ seconds \(.+\)\n", captured.out)
    assert "embedding" in captured.err

    assert cli.main(["documents", *flags]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == ["alpha", "beta"]
    assert all(len(r) == 4 for r in rows)

    assert cli.main(["ask", "How many otters were counted?", *flags]) == 0
    assert "alpha" in capsys.readouterr().out
    fingerprint = json.loads((index / "manifest.json").read_text())["model_sha256"]
    assert fingerprint.endswith(f":{BACKEND}") == (backend == "default")
    assert (index / "onnx" / "onnx.json").is_file() == (backend == "default")


def test_index_of_missing_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["index", "--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "index")]) == 1
    assert "corpus folder" in error_line(capsys.readouterr().err)


def test_documents_lists_the_seeds(seed_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["documents", *seed_flags]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5 and all(len(r) == 4 and r[3] for r in rows)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (the kernel's pick, released again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_no_build_without_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = str(free_port())  # serve takes its address before it opens the index
    assert cli.main(["serve", "--no-build", "--port", port, "--index", str(tmp_path / "none")]) == 1
    assert "qa index" in error_line(capsys.readouterr().err)


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if `qa serve` gets as far as opening the engine (loading the model and index)."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        pytest.fail("qa serve opened the engine before taking its address")

    monkeypatch.setattr(Engine, "open", refuse)


@pytest.mark.usefixtures("no_engine")
def test_serve_on_a_taken_port_fails_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        started = time.monotonic()
        assert cli.main(["serve", "--host", "127.0.0.1", "--port", port, "--index", str(tmp_path)]) == 1
    assert time.monotonic() - started < 2
    line = error_line(capsys.readouterr().err)
    assert f"127.0.0.1:{port}" in line and "--port" in line and "QA_PORT" in line


@pytest.mark.usefixtures("no_engine")
def test_serve_on_a_foreign_address_fails_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_HOST", "203.0.113.1")  # TEST-NET-3: never this machine's; bind fails, nothing is sent
    started = time.monotonic()
    assert cli.main(["serve", "--port", str(free_port()), "--index", str(tmp_path)]) == 1
    assert time.monotonic() - started < 2
    line = error_line(capsys.readouterr().err)
    assert "203.0.113.1" in line and "--host" in line and "QA_HOST" in line


def test_serve_hands_its_socket_to_uvicorn(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No capsys here: the app's logging setup keeps the stderr it finds, which capsys would close after the test.
    port, served, progress = free_port(), [], []
    monkeypatch.setattr(Engine, "open", lambda *_args, **_kwargs: engine)
    monkeypatch.setattr(commands, "_progress", progress.append)

    def run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        served.append((server.config, [s.getsockname() for s in sockets]))

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setenv("QA_FORWARDED_ALLOW_IPS", "10.0.0.5")
    assert cli.main(["serve", "--port", str(port), "--index", str(tmp_path)]) == 0
    [(config, names)] = served
    assert isinstance(config.app, Litestar) and names == [("127.0.0.1", port)]
    assert progress == [f"serving 5 documents on http://127.0.0.1:{port}"]
    # The app's JSON logs, uvicorn's lines included, and the app's access line instead of uvicorn's.
    assert config.log_config is None and config.access_log is False
    # The client address behind a trusted proxy, for the rate limit.
    assert config.proxy_headers is True and config.forwarded_allow_ips == "10.0.0.5"


def test_bad_setting_in_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QA_PORT", "eighty")
    assert cli.main(["documents", "--index", str(tmp_path)]) == 1
    assert "QA_PORT" in error_line(capsys.readouterr().err)


def test_flags_override_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "from-env"))
    assert cli.main(["documents"]) == 1
    assert "from-env" in error_line(capsys.readouterr().err)
    assert cli.main(["documents", "--index", str(tmp_path / "from-flag")]) == 1
    assert "from-flag" in error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("argv", "env", "scope"),
    [
        (["--lock-index"], None, "all"),
        (["--lock-index", "search"], "all", "search"),
        ([], "search", "search"),
        ([], None, "off"),
    ],
)
def test_serve_takes_the_lock_scope_from_the_flag_or_the_environment(
    argv: list[str], env: str | None, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(workers, "serve", lambda settings, *_a, **_k: seen.append(settings.build.lock_index))
    monkeypatch.delenv("QA_LOCK_INDEX", raising=False)
    if env is not None:
        monkeypatch.setenv("QA_LOCK_INDEX", env)
    assert cli.main(["serve", "--workers", "1", "--port", str(free_port()), *argv]) == 0
    assert seen == [scope]


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["ask", "--top-k", "many", "q"], ["serve", "--lock-index", "most"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "index" in capsys.readouterr().out
    assert cli.ask_main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "--json" in help_text and "--explain" in help_text


def test_console_script_fails_cleanly(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ask"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    run = subprocess.run(
        [str(script), "--index", str(tmp_path / "missing"), "Who led the march?"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert "qa index" in error_line(run.stderr)


def test_ask_model_streams_and_checks_citations(
    seed_flags: list[str], openai_stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QA_LLM_BASE_URL", openai_stub.base_url)
    monkeypatch.setenv("QA_LLM_NAME", "stub-model")
    openai_stub.script(Reply.text("The march ", "was led by women [1].", " See also [9]."))
    assert cli.ask_main([QUESTION, "--model", "openai", "--top-k", "3", *seed_flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The march was led by women [1]. See also [9].\n")  # streamed as written
    assert "Citations:\n[1] " in out and "Removed citations to passages that do not exist: [9]" in out
    assert openai_stub.requests[-1].body["stream"] is True


def test_ask_model_failure_is_one_error_line(
    seed_flags: list[str], openai_stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QA_LLM_BASE_URL", openai_stub.base_url)
    monkeypatch.setenv("QA_LLM_NAME", "stub-model")
    openai_stub.script(Reply.broken("The march "))
    assert cli.ask_main([QUESTION, "--model", "openai", *seed_flags]) == 1
    captured = capsys.readouterr()
    assert captured.out == "The march \n"
    assert "broke off" in error_line(captured.err)


def test_ask_unknown_model_lists_the_allowed(seed_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.ask_main([QUESTION, "--model", "gpt-9", *seed_flags]) == 1
    assert "extractive, openai" in error_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", [["ask", QUESTION], ["serve", "--no-build"], ["index"]])
def test_non_finite_setting_is_one_error_line(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QA_DENSE_WEIGHT", "nan")
    assert cli.main([*command, "--index", str(tmp_path / "index"), "--corpus", str(tmp_path)]) == 1
    line = error_line(capsys.readouterr().err)
    assert "QA_DENSE_WEIGHT='nan' is not a finite number" in line


def test_serve_with_a_bad_reranker_fails_before_serving(
    seed_flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    served: list[str] = []

    def no_serving(*_args: object, **_kwargs: object) -> None:
        served.append("uvicorn started")

    monkeypatch.setattr(uvicorn, "run", no_serving)
    monkeypatch.setattr(uvicorn.Server, "run", no_serving)
    monkeypatch.setattr(uvicorn.Server, "serve", no_serving)
    monkeypatch.setenv("QA_RERANKER", str(tmp_path / "no-such-cross-encoder"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    codes: list[int] = []
    argv = ["serve", "--no-build", "--host", "127.0.0.1", "--port", str(port), *seed_flags]
    runner = threading.Thread(target=lambda: codes.append(cli.main(argv)), daemon=True)
    runner.start()
    runner.join(timeout=120)
    assert not runner.is_alive(), "qa serve neither failed nor returned within 120 s"
    assert codes == [1] and served == []
    line = error_line(capsys.readouterr().err)
    assert "QA_RERANKER" in line and "no-such-cross-encoder" in line


def test_index_refuses_an_id_that_cannot_be_fetched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    rows = [{"id": "ok", "text": "A fine article about otters."}, {"id": "2024/05/otters", "text": "Otters again."}]
    batch = corpus / "batch.jsonl"
    batch.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert cli.main(["index", "--corpus", str(corpus), "--index", str(index)]) == 1
    line = error_line(capsys.readouterr().err)  # one line: the corpus is read before the model loads
    assert f"{batch}:2: document id '2024/05/otters' contains /" in line and line.endswith("change the id")
    assert not index.exists()


def test_index_skips_empty_and_binary_articles_and_escapes_titles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "otters.txt").write_text(
        "Otters at the harbour\n\nFishermen counted twelve otters near the old pier in spring.\n", encoding="utf-8"
    )
    (corpus / "empty.md").write_text(" \n\n", encoding="utf-8")
    (corpus / "utf16.txt").write_bytes("Bridge reopens\n\nThe bridge reopened.".encode("utf-16-le"))
    row = {"id": "bridge", "title": "Bridge\x1b[2J reopens\tagain", "author": "Jane\x07 Roe", "text": "The old "
           "stone bridge reopened on Monday after two years of repairs, the mayor said."}  # fmt: skip
    (corpus / "batch.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({"id": "blank", "text": "\t"}) + "\n")
    flags = ["--corpus", str(corpus), "--index", str(index)]
    assert cli.main(["index", *flags]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("indexed 2 documents into ")
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: skipped ")]
    assert len(warnings) == 3
    for source, why in ((corpus / "empty.md", "no text"), (corpus / "utf16.txt", "control characters")):
        assert any(w.startswith(f"warning: skipped {source}: ") and why in w for w in warnings), warnings
    assert any(f"{corpus / 'batch.jsonl'}:2: no text" in w for w in warnings)

    assert cli.main(["documents", *flags]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows == [["bridge", "-", "Jane\\x07 Roe", "Bridge\\x1b[2J reopens\\tagain"], rows[1]]
    assert rows[1][0] == "otters" and len(rows[1]) == 4

    assert cli.main(["ask", "When did the stone bridge reopen?", *flags]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "Bridge\\x1b[2J reopens\\tagain (bridge, chars " in out


@pytest.mark.parametrize(
    "command",
    [["ask", QUESTION], ["serve", "--no-build"], ["eval", str(DATA / "dev_qa.jsonl")]],
    ids=["ask", "serve", "eval"],
)
def test_missing_corpus_folder_is_an_error(
    command: list[str],
    seed_settings: Settings,
    seed_index: Index,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *_a, **_k: pytest.fail("qa serve started without its corpus"))
    monkeypatch.setenv("QA_CORPUS_DIR", str(tmp_path / "moved"))
    assert cli.main([*command, "--index", str(seed_settings.build.index_dir)]) == 1
    line = error_line(capsys.readouterr().err)
    assert f"corpus folder {tmp_path / 'moved'} does not exist" in line and "QA_CORPUS_DIR" in line


def test_documents_needs_no_corpus(
    seed_settings: Settings, seed_index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--corpus", str(tmp_path / "moved"), "--index", str(seed_settings.build.index_dir)]
    assert cli.main(["documents", *flags]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5

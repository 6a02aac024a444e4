"""The house: import contracts (pyproject.toml, import-linter), module sizes and package docstrings."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_LINES = 300
PARTS = ("base", "store", "retrieval", "models", "answers", "evaluation", "service", "web", "terminal")


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the project's contracts on the ``qa`` package found in ``folder``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_are_kept() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("base/errors.py", "import qa.store.corpus"),  # the base imports a part
        ("store/corpus.py", "import qa.retrieval.search"),  # a part imports one above it
        ("web/routes.py", "import qa.store.index"),  # an edge skips the service
        ("store/keyword.py", "import qa.store.index"),  # a circle inside a part (index imports keyword)
    ],
)
def test_contracts_catch_a_bad_import(tmp_path: Path, module: str, line: str) -> None:
    shutil.copytree(ROOT / "qa", tmp_path / "qa")
    target = tmp_path / "qa" / module
    text = target.read_text()
    target.write_text(
        text.replace("from __future__ import annotations\n", f"from __future__ import annotations\n\n{line}\n", 1)
    )
    result = lint(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout


def test_every_part_is_a_package_with_a_docstring_saying_what_it_may_import() -> None:
    found = sorted(p.name for p in (ROOT / "qa").iterdir() if (p / "__init__.py").is_file())
    assert found == sorted(PARTS)
    for part in PARTS:
        doc = ast.get_docstring(ast.parse((ROOT / "qa" / part / "__init__.py").read_text()))
        assert doc and "import" in doc, f"qa/{part}/__init__.py needs a docstring saying what it may import"


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / "qa").rglob("*.py")}
    assert sizes and not {name: n for name, n in sizes.items() if n > MAX_LINES}


def test_test_files_have_unique_names() -> None:
    """Test folders are not packages, so two test files of one name break collection of the whole suite."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}

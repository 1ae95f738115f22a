"""The corpus modules: left out at collection without the corpus (one header line says so, nothing is
skipped), collected with it. A bare clone has no ``../shared`` beside it; SEARCHGRAPH_CORPUS points
at a missing or a stand-in corpus folder here, so this runs on a bare clone too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CORPUS_TESTS, ROOT, corpus_tests


def _pytest(corpus: str, *args: str) -> str:
    """pytest's output for ``args`` with SEARCHGRAPH_CORPUS set to ``corpus``."""
    env = {**os.environ, "SEARCHGRAPH_CORPUS": corpus, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _collect(corpus: str) -> str:
    return _pytest(corpus, "--collect-only", "-q", "tests")


def _header(corpus: str) -> str:
    return _pytest(corpus, "--collect-only", "tests/test_collection.py")


def test_corpus_modules_are_named_so() -> None:
    """Every module that reads the corpus is one of the test_corpus*.py modules."""
    readers = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
                     if p.name != "test_collection.py"
                     and ("corpus_dir()" in p.read_text() or "corpus_cases()" in p.read_text()))
    assert readers and all(p.rsplit("/", 1)[-1].startswith("test_corpus") for p in readers), readers


@pytest.mark.parametrize("corpus", ["absent", "present"])
def test_corpus_modules_follow_the_corpus(corpus: str, tmp_path: Path) -> None:
    """A corpus folder (here an empty stand-in, so that a bare clone checks this too) brings the
    corpus modules in; without one they are left out."""
    path = tmp_path / "shared" / "corpus"
    if corpus == "present":
        path.mkdir(parents=True)
    ids = [line for line in _collect(str(path)).splitlines() if "::" in line]
    modules = {line.split("::", 1)[0].rsplit("/", 1)[-1] for line in ids}
    corpus_modules = {p.name for p in corpus_tests()}
    assert corpus_modules and "test_pipeline.py" in modules
    header = _header(str(path))
    line = next(li for li in header.splitlines() if li.startswith("corpus: "))
    if corpus == "absent":
        assert not modules & corpus_modules
        assert f"not found ({path})" in line and f"{CORPUS_TESTS} modules are left out" in line
        assert "skipped" not in header
    else:
        assert corpus_modules <= modules
        assert line.startswith(f"corpus: {path} (raw configs: not found)") and "are collected" in line

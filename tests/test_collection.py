"""The corpus modules: left out at collection without the corpus (one header line says so, nothing is
skipped), collected with it. A bare clone has no ``../shared`` beside it; SEARCHGRAPH_CORPUS stands in
for both cases here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CORPUS_TESTS, ROOT, corpus_dir, corpus_tests, need


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
    if corpus == "present":
        found = corpus_dir()
        need(found is not None, "the shared corpus (../shared/corpus) is not there")
        path = str(found)
    else:
        path = str(tmp_path / "no-such" / "corpus")
    ids = [line for line in _collect(path).splitlines() if "::" in line]
    modules = {line.split("::", 1)[0].rsplit("/", 1)[-1] for line in ids}
    corpus_modules = {p.name for p in corpus_tests()}
    assert corpus_modules and "test_pipeline.py" in modules
    if corpus == "absent":
        assert not modules & corpus_modules
        header = _header(path)
        line = next(li for li in header.splitlines() if li.startswith("corpus: "))
        assert f"not found ({path})" in line and f"{CORPUS_TESTS} modules are left out" in line
        assert "skipped" not in header
    else:
        assert corpus_modules <= modules
        assert f"corpus: {path} " in _header(path)

"""Shared test set-up: markers for optional heavy parts, no skips in CI, and the corpus tests.

With ``CI=true`` a skipped test is a failed test: the RETURNN oracle, Graphviz and TensorFlow tests
must run there (the set-up installs them).

The real-network corpus (``../shared/corpus`` and ``../shared/corpus-raw`` beside the checkout;
``SEARCHGRAPH_CORPUS`` names another corpus folder, with ``corpus-raw`` beside it) is not part of
the project. Every test module that reads it is named ``test_corpus*.py``; without the corpus those
modules are left out at collection (not skipped: a bare clone passes ``CI=true``), and pytest's
header says so in one line. Our own networks (``tests/oracle/cases/``, ``examples/``) are in the
other modules and always run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.graph_support", "tests.oracle.agreement")

from .oracle.oracle import corpus_dir, corpus_raw_dir

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


CORPUS_TESTS = "test_corpus*.py"


def corpus_tests(root: Path = ROOT / "tests") -> list[Path]:
    """The test modules that need the corpus."""
    return sorted(root.rglob(CORPUS_TESTS))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the corpus modules out when there is no corpus (None: let pytest decide as usual)."""
    if collection_path.match(CORPUS_TESTS) and corpus_dir() is None:
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str:
    """One line: where the corpus was found, or that it was not and its modules are left out."""
    corpus, raw = corpus_dir(), corpus_raw_dir()
    modules = f"the {len(corpus_tests())} {CORPUS_TESTS} modules"
    if corpus is None:
        looked = os.environ.get("SEARCHGRAPH_CORPUS") or "../shared/corpus beside the checkout"
        return f"corpus: not found ({looked}): {modules} are left out, our own networks only"
    return f"corpus: {corpus} (raw configs: {raw or 'not found'}): {modules} are collected"


def need(condition: bool, why: str) -> None:
    """Skip locally when an optional part is missing; fail in CI, where nothing may be skipped."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why}")
    pytest.skip(why)


@pytest.fixture
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed width and no colours, whatever the terminal the tests run in says."""
    monkeypatch.setenv("COLUMNS", "100")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "SEARCHGRAPH_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def needs_dot() -> None:
    need(shutil.which("dot") is not None, "Graphviz's dot is not installed")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be skipped: {report.longrepr}"

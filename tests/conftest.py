"""Shared test set-up: markers for optional heavy parts, and no skips in CI.

With ``CI=true`` a skipped test is a failed test: the RETURNN oracle, Graphviz and TensorFlow tests
must run there (the set-up installs them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def corpus_dir() -> Path | None:
    """``../shared/corpus`` beside the checkout (``SEARCHGRAPH_CORPUS`` overrides), or None."""
    path = Path(os.environ.get("SEARCHGRAPH_CORPUS", ROOT.parent / "shared" / "corpus"))
    return path if path.is_dir() else None


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

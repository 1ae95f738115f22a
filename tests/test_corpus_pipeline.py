"""Every stage runs on every network of the shared corpus (see ``tests/conftest.py``): load, graph,
analysis in both modes, plans, findings — never an exception of our own."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import corpus_dir
from .test_pipeline import run_all_stages

_FILES = sorted(p for p in (corpus_dir() or Path("/nonexistent")).glob("*/*.json")
                if not p.name.endswith(".oracle.json"))


@pytest.mark.parametrize("path", _FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_all_stages_run(path: Path) -> None:
    run_all_stages(path)

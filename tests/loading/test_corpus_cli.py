"""The CLI on the raw config files users have (``../shared/corpus-raw``): never a traceback.

``searchgraph beams`` on every raw file in safe mode, and with ``--trust`` on a seeded sample (each is a
RETURNN subprocess), must exit 0, 1 (the network has errors) or 2 (unusable input, with a message and a
hint), and print no Python traceback. Collected only where the corpus is (tests/conftest.py).
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from .test_corpus_raw import RAW, ROWS

SAMPLE = sorted(random.Random(14).sample([r[1] for r in ROWS], min(8, len(ROWS))))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "searchgraph", *args], capture_output=True, text=True,
                          timeout=300, check=False, env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"})


def _check(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode in (0, 1, 2), out.stderr[-2000:]
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-2000:]
    if out.returncode == 2:
        assert "error:" in out.stderr and "hint:" in out.stderr, out.stderr


@pytest.mark.parametrize("raw", [r[1] for r in ROWS])
def test_beams_in_safe_mode_never_shows_a_traceback(raw: str) -> None:
    _check(_run("beams", "--json", str(RAW / raw)))


@pytest.mark.parametrize("raw", SAMPLE)
def test_beams_with_trust_never_shows_a_traceback(raw: str) -> None:
    _check(_run("beams", "--trust", str(RAW / raw)))

"""The oracle runner itself: does it reproduce RETURNN's recorded answers for the shared corpus?

The corpus oracle files were made with the same RETURNN release; for every case that RETURNN built in
under 6 s the runner's per-layer answers must equal the recorded ones exactly, and for the failing
cases ``ok``, ``search_error`` and the exception type must agree. Cases that failed while compiling
RETURNN's native ops (``CalledProcessError`` from g++: the recording machine could not compile them,
this one may) depend on the machine, not on RETURNN, and are left out.
"""

from __future__ import annotations

from typing import Any

import pytest

from .oracle import corpus_cases, require_returnn, run_oracle

pytestmark = pytest.mark.returnn

MAX_CONSTRUCT_S = 6.0
_ENV_DEPENDENT_ERRORS = ("CalledProcessError",)  # native-op compilation: depends on the machine's g++


def _selected() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for cid, case, oracle in corpus_cases():
        if (oracle.get("construct_s") or 0.0) >= MAX_CONSTRUCT_S:
            continue
        if not oracle["ok"] and oracle["error"].startswith(_ENV_DEPENDENT_ERRORS):
            continue
        out.append((cid, case, oracle))
    return out


_SELECTED = _selected()
_ORACLES = {cid: oracle for cid, _, oracle in _SELECTED}


@pytest.fixture(scope="module")
def corpus_results() -> dict[str, dict[str, Any]]:
    require_returnn()
    return run_oracle([case for _, case, _ in _SELECTED])


def _error_type(error: str | None) -> str | None:
    return error.split(":", 1)[0] if error else None


@pytest.mark.parametrize("cid", [c for c in _ORACLES if _ORACLES[c]["ok"]])
def test_runner_reproduces_built_networks(cid: str, corpus_results: dict[str, dict[str, Any]]) -> None:
    want, got = _ORACLES[cid], corpus_results[cid]
    assert got["ok"], got["error_full"]
    assert got["layers"] == want["layers"]


@pytest.mark.parametrize("cid", [c for c in _ORACLES if not _ORACLES[c]["ok"]])
def test_runner_reproduces_failures(cid: str, corpus_results: dict[str, dict[str, Any]]) -> None:
    want, got = _ORACLES[cid], corpus_results[cid]
    assert not got["ok"]
    assert _error_type(got["error"]) == _error_type(want["error"]), got["error"]
    assert got["search_error"] == want["search_error"], got["error_full"]

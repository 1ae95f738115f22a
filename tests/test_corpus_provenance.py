"""Provenance against RETURNN's recorded answers for the shared corpus (``*.oracle.json``).

The live differential tests (RETURNN run in a subprocess) are in ``tests/oracle/``; this module
reads the answers RETURNN gave when the corpus was made, so it is fast and runs everywhere the
corpus is. Fields: beam, beam_size, beam_chain, choice, placement (``where``) per layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import corpus_dir, need
from .oracle.oracle import KNOWN_GAPS, analyze_case, disagreements

_CORPUS = corpus_dir()
_CASES = sorted(p for p in _CORPUS.glob("*/*.json") if not p.name.endswith(".oracle.json")) \
    if _CORPUS else []


def _oracle(case: Path) -> dict:
    return json.loads(case.with_name(case.name[:-5] + ".oracle.json").read_text())


def _cid(case: Path) -> str:
    return f"{case.parent.name}/{case.stem}"


def _analysis(case: Path):
    return analyze_case({**json.loads(case.read_text()), "id": _cid(case)})


def _disagreements(case: Path) -> list[str]:
    return disagreements(_analysis(case), _oracle(case)["layers"])


def test_corpus_present() -> None:
    need(bool(_CASES), "the shared corpus (../shared/corpus) is not present")


@pytest.mark.parametrize("case", [c for c in _CASES if _oracle(c)["ok"]], ids=lambda p: p.stem)
def test_provenance_matches_returnn(case: Path) -> None:
    assert _disagreements(case) == []


@pytest.mark.parametrize("case", [c for c in _CASES if _oracle(c)["ok"]], ids=lambda p: p.stem)
def test_built_networks_have_no_predicted_errors(case: Path) -> None:
    assert _analysis(case).errors == {}


def _rejected(case: Path) -> object:
    marks = [pytest.mark.xfail(reason=KNOWN_GAPS[_cid(case)], strict=True)] \
        if _cid(case) in KNOWN_GAPS else []
    return pytest.param(case, id=case.stem, marks=marks)


@pytest.mark.parametrize("case", [_rejected(c) for c in _CASES if not _oracle(c)["ok"]
                                  and _oracle(c).get("search_error")])
def test_search_errors_are_predicted(case: Path) -> None:
    """Networks RETURNN rejects for search reasons: some layer must carry a predicted error."""
    assert _analysis(case).errors, _oracle(case)["error"]

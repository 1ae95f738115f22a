"""searchgraph's provenance against RETURNN, run live (``runner.py`` in subprocesses, cached).

Cases: every network of the shared corpus, and our own networks in ``cases/`` (RETURNN's search
tests re-expressed, each feature of beam search, networks RETURNN rejects). RETURNN builds each in
search mode on the CPU; the networks get the corpus README's modifications (``prepare_network``)
on both sides. For every layer RETURNN builds: beam, beam size and beam chain must agree, and the
search choice and placement too. For a network RETURNN rejects for a search reason, searchgraph must
predict an error on the failing layer.
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx
import pytest

from .oracle import KNOWN_GAPS, all_cases, analyze_case, disagreements, own_cases

pytestmark = pytest.mark.returnn




def _analysis(case: dict[str, Any]):
    return analyze_case(case)


def _disagreements(case: dict[str, Any], result: dict[str, Any]) -> list[str]:
    return disagreements(_analysis(case), result["layers"])


def _blamed(analysis, result: dict[str, Any]) -> set[str]:
    """The layers RETURNN's failure points at: the layer it was constructing, the layers its message
    names, and (construction is recursive) the dependencies of the one it was constructing."""
    names = set()
    message = result.get("error_full") or result.get("error") or ""
    for layer in analysis.layers:
        local = layer.rsplit("/", 1)[-1]
        if re.search(rf"['\"/]{re.escape(local)}['\"]", message) or f"'{layer}'" in message:
            names.add(layer)
    site = result.get("error_layer")
    if site and site in analysis.graph:
        names.add(site)
        names |= nx.ancestors(analysis.graph, site)
    return names


def _params(ok: bool | None) -> list[Any]:
    return [pytest.param(cid, case, id=cid, marks=[pytest.mark.xfail(reason=KNOWN_GAPS[cid],
                                                                     strict=True)]
                         if cid in KNOWN_GAPS else [])
            for cid, case in all_cases()]


@pytest.mark.parametrize(("cid", "case"), _params(None))
def test_agrees_with_returnn(cid: str, case: dict[str, Any],
                             returnn_results: dict[str, dict[str, Any]]) -> None:
    result = returnn_results[cid]
    if result.get("runner_crash"):
        pytest.fail(f"the RETURNN runner crashed on {cid}: {result.get('error')}")
    if result["ok"]:
        assert _disagreements({**case, "id": cid}, result) == []
        return
    own_case = cid in dict(own_cases())
    if not (result.get("search_error") or own_case):
        # RETURNN fails for reasons unrelated to search (old shape conventions, custom classes,
        # native ops): nothing to compare, but the network must still be analysable
        _analysis({**case, "id": cid})
        return
    analysis = _analysis({**case, "id": cid})
    assert analysis.errors, f"RETURNN rejects it ({result['error']}); searchgraph predicts no error"
    blamed = _blamed(analysis, result)
    assert set(analysis.errors) & blamed, (
        f"RETURNN: {result['error']} at {result.get('error_layer')}; searchgraph: "
        f"{ {k: v.splitlines()[0] for k, v in analysis.errors.items()} }")


def test_own_cases_cover_enough_networks() -> None:
    cases = dict(own_cases())
    assert len(cases) >= 40
    rejected = [c for c in cases.values() if not c.get("expect", {}).get("ok", True)]
    assert len(rejected) >= 8

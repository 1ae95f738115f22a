"""Does searchgraph's analysis of one network agree with RETURNN's live answer (``runner.py``)?

Shared by the oracle tests on our own cases and on the shared corpus. Provenance
(:func:`check_agreement`): for every layer RETURNN builds, beam, beam size and beam chain must agree,
and the search choice and placement too; for a network RETURNN rejects for a search reason,
searchgraph must predict an error on the failing layer. Plans (:func:`check_plans`): the same
``SelectSearchSourcesLayer`` translations as RETURNN inserts.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import networkx as nx
import pytest

from searchgraph.analysis.plan import plan_network

from .oracle import KNOWN_GAPS, analyze_case, disagreements


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


def params(cases: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """One test parameter per case; the known gaps as strict expected failures."""
    return [pytest.param(cid, case, id=cid, marks=[pytest.mark.xfail(reason=KNOWN_GAPS[cid],
                                                                     strict=True)]
                         if cid in KNOWN_GAPS else [])
            for cid, case in cases]


def check_agreement(cid: str, case: dict[str, Any], result: dict[str, Any], *, own_case: bool) -> None:
    """Assert that searchgraph agrees with RETURNN's ``result`` for the case (``own_case``: one of
    ``cases/``, whose rejection always counts, search-related or not)."""
    if result.get("runner_crash"):
        pytest.fail(f"the RETURNN runner crashed on {cid}: {result.get('error')}")
    if result["ok"]:
        assert _disagreements({**case, "id": cid}, result) == []
        return
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


#: Plans known to differ from RETURNN (strict xfail), with the reason.
PLAN_GAPS: dict[str, str] = {
    "decide-keep-beam-in-loop-rec-chain": (
        "a value on prev:<decide_keep_beam> read by a layer on the decide_keep_beam's beam: RETURNN selects "
        "it through (prev:output, decide_keep_beam) when it comes through a current-frame copy "
        "(prev_s_copy), not when it is the prev: template itself (prev:s); searchgraph keeps both "
        "(keep_raw holds only for the current frame's SearchChoices, copy_as_prev_time_frame makes "
        "fresh ones)"),
    "tied-softmax-reusing-the-embedding-of-its-own-choice": (
        "reuse_params naming a layer built later in the frame (a dependency loop): RETURNN's "
        "ReuseParams.LazyLayerResolver builds that layer a second time on dummy inputs "
        "(create_dummy_layer) to make its parameters, and that throwaway layer tiles the frame's label "
        "into it; searchgraph's plan lists only the real layer's translations"),
}


def plan_params(cases: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """One test parameter per case; the known plan gaps as strict expected failures."""
    return [pytest.param(cid, case, id=cid, marks=[pytest.mark.xfail(reason=PLAN_GAPS[cid],
                                                                     strict=True)]
                         if cid in PLAN_GAPS else []) for cid, case in cases]


def check_plans(cid: str, case: dict[str, Any], result: dict[str, Any]) -> None:
    """Assert that searchgraph's plans list exactly the translations RETURNN inserted."""
    assert result["ok"], f"RETURNN built this network when it was recorded, now: {result['error']}"
    plan = plan_network(analyze_case({**case, "id": cid}))
    ours = Counter((layer, item.input, item.action, tuple(s.choice for s in item.steps))
                   for layer, layer_plan in plan.layers.items() for item in layer_plan.inputs
                   if item.action != "keep")
    theirs = Counter((t["layer"], t["source"], t["action"], tuple(t["chain"]))
                     for t in result["translations"]
                     if t["context"] == "translate_to_common_search_beam")
    assert (dict(theirs - ours), dict(ours - theirs)) == ({}, {}), "(RETURNN only, searchgraph only)"
    frames_ours = Counter((f.layer, tuple(s.choice for s in f.plan.steps))
                          for f in plan.frames if f.plan.action == "select")
    frames_theirs = Counter((t["source"], tuple(t["chain"])) for t in result["translations"]
                            if t["context"] == "maybe_transform")
    assert (dict(frames_theirs - frames_ours), dict(frames_ours - frames_theirs)) == ({}, {})

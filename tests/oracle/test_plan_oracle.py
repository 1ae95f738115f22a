"""Translation plans against the ``SelectSearchSourcesLayer``s RETURNN really inserts.

The runner records every translation RETURNN makes while building a network in search mode:
per consuming layer and input, tiling or selection through a chain of choices (oldest first), and
at the end of each loop frame the re-selection of values carried to the next frame
(``maybe_transform``). searchgraph's plans must list exactly the same ones.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from searchgraph.plan import plan_network

from .oracle import all_cases, analyze_case, corpus_cases

pytestmark = pytest.mark.returnn

#: Plans known to differ from RETURNN (strict xfail), with the reason.
PLAN_GAPS: dict[str, str] = {}


def _built_by_returnn() -> set[str]:
    """The cases RETURNN built when they were recorded (corpus oracle files, our cases' ``expect``);
    the test checks that the live run builds them too."""
    built = {cid for cid, _, oracle in corpus_cases() if oracle["ok"]}
    return built | {cid for cid, case in all_cases() if case.get("expect", {}).get("ok")}


def _params() -> list[Any]:
    built = _built_by_returnn()
    return [pytest.param(cid, case, id=cid, marks=[pytest.mark.xfail(reason=PLAN_GAPS[cid],
                                                                     strict=True)]
                         if cid in PLAN_GAPS else []) for cid, case in all_cases() if cid in built]


@pytest.mark.parametrize(("cid", "case"), _params())
def test_plans_are_what_returnn_inserts(cid: str, case: dict[str, Any],
                                        returnn_results: dict[str, dict[str, Any]]) -> None:
    result = returnn_results[cid]
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

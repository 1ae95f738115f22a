"""Every stage runs on every network of our own (our oracle cases, the example): load, graph,
analysis in both modes, plans, findings — never an exception of our own. The shared corpus' networks:
``test_corpus_pipeline.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchgraph import analyze, load
from searchgraph.analysis.plan import NetworkPlan, plan_network
from searchgraph.checks.diagnose import diagnose

from .conftest import ROOT

_FILES = sorted((ROOT / "tests" / "oracle" / "cases").glob("*.json"))
_FILES += [ROOT / "examples" / "attention_decoder.config"]


def run_all_stages(path: Path) -> None:
    spec = load(path)
    search = analyze(spec)
    train = analyze(spec, mode="train")
    assert set(search.layers) and set(train.layers)
    plan = plan_network(search)
    assert NetworkPlan.from_json(json.loads(plan.dumps())).to_json() == plan.to_json()
    findings = diagnose(search, compare_modes=True)
    assert {f.layer for f in findings if f.severity == "error"} == set(search.errors)
    json.dumps(search.to_json())


@pytest.mark.parametrize("path", _FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_all_stages_run(path: Path) -> None:
    run_all_stages(path)

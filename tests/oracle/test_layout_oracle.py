"""The layout model against RETURNN's own layouts (``searchgraph.search.returnn_layouts``, run live).

Wherever searchgraph is sure of a layout (:mod:`searchgraph.analysis.layouts`: a rec unit's template
in construction order, a frame's real layer, a layer outside loops), its batch axis and number of axes
must be RETURNN's. Cases: the own layout cases, and a seeded sample of the shared corpus
(``SEARCHGRAPH_LAYOUT_SAMPLE``, default 6; ``all``: every network, as reported in docs/findings.md).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from searchgraph.analysis import construct
from searchgraph.analysis.layouts import RootLayouts
from searchgraph.graph import build_layer_graph
from searchgraph.loading import netspec_from_settings

from .oracle import CASES_DIR, ROOT, corpus_cases, require_returnn
from .runner import prepare_network

pytestmark = pytest.mark.returnn

OWN = ("reject-time-major-accumulated-output", "time-major-template-batch-major-frame-output",
       "choice-beam12-attention")


def _chosen() -> list[tuple[str, dict[str, Any]]]:
    own = [(name, json.loads((CASES_DIR / f"{name}.json").read_text())) for name in OWN]
    corpus = [(cid, case) for cid, case, _ in corpus_cases()]
    want = os.environ.get("SEARCHGRAPH_LAYOUT_SAMPLE", "6")
    if want != "all" and len(corpus) > int(want):
        corpus = sorted(random.Random(11).sample(corpus, int(want)), key=lambda item: item[0])
    return own + corpus


def _returnn_layouts(case: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "case.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(case))
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run([sys.executable, "-m", "searchgraph.search.returnn_layouts", str(src), str(out)],
                       cwd=ROOT, env=env, capture_output=True, timeout=600, check=True)
        return json.loads(out.read_text())


def _compare(cid: str, case: dict[str, Any], got: dict[str, Any]) -> tuple[int, list[str]]:
    """(sure answers, disagreements) of searchgraph's layouts with RETURNN's ``got``."""
    settings = {**case, "network": prepare_network(case["network"])}
    settings.update(case.get("config") or {})
    spec = netspec_from_settings(settings, cid)
    c = construct(spec, build_layer_graph(spec, strict=False), "search", False)
    roots = RootLayouts(c._s)
    sure, wrong = 0, []
    checks = [(name, c.frame_layout, want, "template") for name, want in got["templates"].items()]
    for name, want in got["layers"].items():
        if name in c.nodes:
            fn = c.loop_layout if c.rec_of(name) is not None else roots.of
            checks.append((name, fn, want, "layer"))
    for name, fn, want, kind in checks:
        if name not in c.nodes:
            continue
        layout = fn(name)
        if layout is None:
            continue
        sure += 1
        if (layout.batch, layout.ndim) != (want[0], want[1]):
            wrong.append(f"{kind} {name}: searchgraph batch axis {layout.batch} of {layout.ndim}, "
                         f"RETURNN {want[0]} of {want[1]}")
    return sure, wrong


@pytest.fixture(scope="module")
def layouts() -> dict[str, dict[str, Any]]:
    require_returnn()
    cases = _chosen()
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda item: _returnn_layouts(item[1]), cases))
    return {cid: res for (cid, _), res in zip(cases, results)}


@pytest.mark.parametrize(("cid", "case"), [pytest.param(cid, case, id=cid) for cid, case in _chosen()])
def test_layouts_agree_with_returnn(cid: str, case: dict[str, Any], layouts: dict[str, dict[str, Any]]) -> None:
    _, wrong = _compare(cid, case, layouts[cid])
    assert wrong == []


def test_the_own_cases_are_answered(layouts: dict[str, dict[str, Any]]) -> None:
    """Not vacuous: the attention decoders over an LSTM have sure answers, time-major ones among them."""
    for name in OWN:
        sure, _ = _compare(name, json.loads((CASES_DIR / f"{name}.json").read_text()), layouts[name])
        assert sure >= 10, name
    got = layouts["time-major-template-batch-major-frame-output"]
    assert got["templates"]["output/accum_att_weights"][0] == 1  # RETURNN's own: time-major
    assert got["templates"]["output/energy"][0] == 1  # the energies' template too,
    assert got["layers"]["output/energy"][0] == 0  # but the frame's energies are batch-major

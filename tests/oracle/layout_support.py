"""Helpers of the layout oracle tests: RETURNN's own layouts (``searchgraph.search.returnn_layouts``,
run live) and their comparison with searchgraph's layout model where it is sure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from searchgraph.analysis import construct
from searchgraph.graph import build_layer_graph
from searchgraph.loading import netspec_from_settings

from .oracle import ROOT
from .runner import prepare_network


def returnn_layouts(case: dict[str, Any]) -> dict[str, Any]:
    """RETURNN's layouts of one case (a worker subprocess, CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "case.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(case))
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run([sys.executable, "-m", "searchgraph.search.returnn_layouts", str(src), str(out)],
                       cwd=ROOT, env=env, capture_output=True, timeout=600, check=True)
        return json.loads(out.read_text())


def all_layouts(cases: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Case id -> RETURNN's layouts, two workers at a time."""
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda item: returnn_layouts(item[1]), cases))
    return {cid: res for (cid, _), res in zip(cases, results)}


def compare(cid: str, case: dict[str, Any], got: dict[str, Any]) -> tuple[int, list[str]]:
    """(sure answers, disagreements) of searchgraph's layouts with RETURNN's ``got``."""
    settings = {**case, "network": prepare_network(case["network"])}
    settings.update(case.get("config") or {})
    spec = netspec_from_settings(settings, cid)
    c = construct(spec, build_layer_graph(spec, strict=False), "search", False)
    sure, wrong = 0, []
    checks = [(name, c.frame_layout, want, "template") for name, want in got["templates"].items()]
    for name, want in got["layers"].items():
        if name in c.nodes:
            fn = c.loop_layout if c.rec_of(name) is not None else c.root_layout
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

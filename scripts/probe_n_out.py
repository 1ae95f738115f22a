"""Which layer classes fail when RETURNN guesses ``n_out`` from a ``target`` (rule SG130).

``LayerBase.transform_config_dict`` sets ``n_out`` to the target's dim when a layer has a target and
no ``n_out`` / ``out_dim``; ``LayerBase.__init__`` asserts ``output.dim == n_out``. Classes that keep
their input's dim fail there, unless their template takes ``n_out`` as its dim. This builds one small
search network per class (a layer of that class on a dim-6 input with a dim-7 target) with the
installed RETURNN and prints what happens::

    .venv/bin/python scripts/probe_n_out.py
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.oracle.oracle import run_oracle

CLASSES = {"copy": {}, "dropout": {"dropout": 0.1}, "activation": {"activation": "relu"},
           "combine": {"kind": "add"}, "layer_norm": {}, "compare": {"value": 0, "kind": "greater"},
           "softmax_over_spatial": {}, "eval": {"eval": "source(0)"}, "reduce": {"mode": "max", "axis": "T"},
           "decide": {}}


def main() -> int:
    base = json.loads((ROOT / "tests/oracle/cases/choice-beam1.json").read_text())
    base.pop("expect", None)
    cases = []
    for cls, opts in CLASSES.items():
        case = copy.deepcopy(base)
        # decide reads the searched labels (dim 7) and gets the dim-5 data as target
        layer = {"class": cls, "from": "output" if cls == "decide" else "encoder",
                 "target": "data" if cls == "decide" else "classes", **opts, "is_output_layer": True}
        case["network"]["x"] = layer
        case["id"] = f"probe-n_out-{cls}"
        cases.append(case)
    results = run_oracle(cases)
    for case in cases:
        res = results[case["id"]]
        print(f"{case['id'][len('probe-n_out-'):]:22} {'builds' if res.get('ok') else res.get('error')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

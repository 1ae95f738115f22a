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
           "decide": {}, "split_batch_beam": {}, "decide_keep_beam": {}, "reinterpret_data": {},
           "cumsum": {"axis": "T"}, "window": {"window_size": 3}, "scaled_grad": {"scale": 1.0},
           "shift_axis": {"axis": "T", "amount": 1}, "postfix_in_time": {}, "prefix_in_time": {},
           "batch_norm": {}, "seq_len_mask": {"axis": "T", "mask_value": 0.0}, "print": {},
           "expand_dims": {"axis": "spatial"}, "time_chunking": {"chunk_size": 2, "chunk_step": 2},
           "slice": {"axis": "T", "slice_start": 1},
           "pool": {"mode": "max", "pool_size": [2], "padding": "same"},
           "split_dims": {"axis": "T", "dims": [-1, 1]},
           "switch": {"condition": "positive", "true_from": "encoder", "false_from": "encoder"}}

#: classes that read the searched labels (dim 7, with the loop's beam) and get the dim-5 data as target
ON_LABELS = {"decide", "split_batch_beam", "decide_keep_beam"}


def main() -> int:
    base = json.loads((ROOT / "tests/oracle/cases/choice-beam1.json").read_text())
    base.pop("expect", None)
    cases = []
    for cls, opts in CLASSES.items():
        case = copy.deepcopy(base)
        layer = {"class": cls, "from": [] if cls == "switch" else "output" if cls in ON_LABELS else "encoder",
                 "target": "data" if cls in ON_LABELS else "classes", **opts, "is_output_layer": True}
        case["network"]["x"] = layer
        case["network"]["positive"] = {"class": "compare", "from": "encoder", "value": 0.0, "kind": "greater",
                                       "n_out": 6}
        case["id"] = f"probe-n_out-{cls}"
        cases.append(case)
    results = run_oracle(cases)
    for case in cases:
        res = results[case["id"]]
        print(f"{case['id'][len('probe-n_out-'):]:22} {'builds' if res.get('ok') else res.get('error')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ask RETURNN which layer classes keep "not available for inference" in their output template.

    .venv/bin/python scripts/probe_availability.py [--json OUT] [--check] [--only PROBE_OR_CLASS ...]

In search (``eval_flag=False``), ``TFNetwork._create_layer`` puts a ``DataNotAvailableLayer`` in place of
a layer whose output template is not ``available_for_inference``. Whether a template keeps the flag of
its sources depends on the class' ``get_out_data_from_opts``: the generic one ends in
``LayerBase._post_init_output`` (any source unavailable -> output unavailable), a copy of a source
template keeps the source's flag, a fresh ``Data(...)`` does not. A layer of a class that does not keep
it is built for real on an input that has no data (its placeholder is None), which usually raises.

This script builds one tiny network per probe in search mode (CPU, graph mode) with the probed layer
reading extern data that is not available for inference, and records what RETURNN made of the layer:

* ``carries`` -- a ``DataNotAvailableLayer`` (the template kept the flag);
* ``builds`` -- a real layer, built without error (the template dropped the flag, the layer did not
  need the input's data);
* ``raises`` -- construction raised, with the message and where (``raised_in``): ``layer`` (the
  template dropped the flag and the real layer met the missing data), ``template`` (making the
  template failed: the probe's options, not availability), ``network`` (after the layers were built:
  an unavailable ``subnetwork`` layer is a ``DataNotAvailableLayer``, and
  ``Subnetwork.complete_construction_parent_subnet_layer`` then asserts it is a ``SubnetworkLayer``).

Multi-source probes put the unavailable source first and last, to see whether the flag comes from
every source or from the first one only. ``--check`` compares the answers with searchgraph's class
table (``LayerClass.without_data`` in ``searchgraph/graph/layers.py``) and exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The probed layer is always "output"; pre-layers set up what it reads. In the options, these tokens
# stand for sources:
#   A  -> "data"       dense [B,T,F=4], available
#   AS -> "data:avs"   sparse [B,T] dim 7, available
#   U  -> dense [B,T,F=4], not available for inference (same dims as A)
#   US -> sparse [B,T] dim 7, not available
# Each probe runs twice: U / US as the extern data itself (``data:aux`` / ``data:auxs``: a
# DataNotAvailableLayer whose output still holds the extern data's placeholder), and as a layer made
# from it (``u``: linear, ``us``: copy; DataNotAvailableLayers with a template only, no placeholder),
# which is what a layer reading unavailable data usually gets in a real network.
VARIANTS = {
    "data": ({"U": "data:aux", "US": "data:auxs"}, {}),
    "layer": ({"U": "u", "US": "us"}, {"u": {"class": "linear", "from": "data:aux", "out_dim": "$F"},
                                        "us": {"class": "copy", "from": "data:auxs"}}),
}
A, AS, U, US = "A", "AS", "U", "US"
_FIXED = {"A": "data", "AS": "data:avs"}

#: (probe id, class, the output layer's options, pre-layers). ``"$F"`` / ``"$T"`` stand for the feature
#: and time Dim objects.
PROBES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("linear", "linear", {"from": U, "n_out": 3}, {}),
    ("linear:sparse", "linear", {"from": US, "n_out": 3}, {}),
    ("linear:A,U", "linear", {"from": [A, U], "n_out": 3}, {}),
    ("linear:U,A", "linear", {"from": [U, A], "n_out": 3}, {}),
    ("softmax", "softmax", {"from": U, "n_out": 3}, {}),
    ("conv", "conv", {"from": U, "filter_size": (3,), "padding": "same", "n_out": 3}, {}),
    ("conv:A,U", "conv", {"from": [A, U], "filter_size": (3,), "padding": "same", "n_out": 3}, {}),
    ("conv:U,A", "conv", {"from": [U, A], "filter_size": (3,), "padding": "same", "n_out": 3}, {}),
    ("pool", "pool", {"from": U, "mode": "max", "pool_size": (2,), "padding": "same"}, {}),
    ("pool:A,U", "pool", {"from": [A, U], "mode": "max", "pool_size": (2,), "padding": "same"}, {}),
    ("transposed_conv:A,U", "transposed_conv", {"from": [A, U], "filter_size": (3,), "n_out": 3}, {}),
    ("math_norm:A,U", "math_norm", {"from": [A, U], "p": 2, "axis": "F"}, {}),
    ("gating:A,U", "gating", {"from": [A, U], "activation": "tanh"}, {}),
    ("transposed_conv", "transposed_conv", {"from": U, "filter_size": (3,), "n_out": 3}, {}),
    ("batch_norm", "batch_norm", {"from": U}, {}),
    ("layer_norm", "layer_norm", {"from": U}, {}),
    ("norm", "norm", {"from": U, "axis": "F"}, {}),
    ("math_norm", "math_norm", {"from": U, "p": 2, "axis": "F"}, {}),
    ("dropout", "dropout", {"from": U, "dropout": 0.1}, {}),
    ("copy", "copy", {"from": U}, {}),
    ("copy:A,U", "copy", {"from": [A, U]}, {}),
    ("copy:U,A", "copy", {"from": [U, A]}, {}),
    ("combine", "combine", {"from": [U], "kind": "add"}, {}),
    ("combine:A,U", "combine", {"from": [A, U], "kind": "add"}, {}),
    ("combine:U,A", "combine", {"from": [U, A], "kind": "add"}, {}),
    ("eval", "eval", {"from": U, "eval": "source(0) * 2."}, {}),
    ("eval:A,U", "eval", {"from": [A, U], "eval": "source(0) + source(1)"}, {}),
    ("eval:U,A", "eval", {"from": [U, A], "eval": "source(0) + source(1)"}, {}),
    ("activation", "activation", {"from": U, "activation": "relu"}, {}),
    ("reduce", "reduce", {"from": U, "mode": "sum", "axis": "T"}, {}),
    ("reduce_out", "reduce_out", {"from": U, "mode": "max", "num_pieces": 2}, {}),
    ("rec", "rec", {"from": U, "unit": "standardlstm", "n_out": 3}, {}),
    ("rec:lstm", "rec", {"from": U, "unit": "lstm", "n_out": 3}, {}),
    ("rec:nativelstm2", "rec", {"from": U, "unit": "nativelstm2", "n_out": 3}, {}),
    ("rec:A,U", "rec", {"from": [A, U], "unit": "standardlstm", "n_out": 3}, {}),
    ("rec:U,A", "rec", {"from": [U, A], "unit": "standardlstm", "n_out": 3}, {}),
    ("get_last_hidden_state", "get_last_hidden_state", {"from": "x", "n_out": 6}, {"x": {
        "class": "rec", "from": U, "unit": "standardlstm", "n_out": 3}}),
    ("relative_positional_encoding", "relative_positional_encoding", {"from": U, "n_out": 4}, {}),
    ("rec:unit-fresh-base", "rec", {"from": A, "unit": {
        "r": {"class": "reduce", "mode": "max", "axis": "F", "from": "base:x"},
        "output": {"class": "combine", "kind": "add", "from": ["data:source", "r"]}}}, {
        "x": {"class": "gather", "from": U, "position": "pos", "axis": "T"},
        "pos": {"class": "constant", "value": 0, "with_batch_dim": True}}),
    ("rec:unit-fresh-base-unused", "rec", {"from": A, "unit": {
        "r": {"class": "reduce", "mode": "max", "axis": "F", "from": "base:x"},
        "output": {"class": "copy", "from": "data:source"}}}, {
        "x": {"class": "gather", "from": U, "position": "pos", "axis": "T"},
        "pos": {"class": "constant", "value": 0, "with_batch_dim": True}}),
    ("subnetwork:in-rec", "rec", {"from": A, "unit": {
        "sub": {"class": "subnetwork", "from": "base:x", "subnetwork": {"output": {"class": "copy", "from": "data"}}},
        "output": {"class": "combine", "kind": "add", "from": ["data:source", "sub"]}}},
     {"x": {"class": "gather", "from": U, "position": "pos", "axis": "T"},
      "pos": {"class": "constant", "value": 0, "with_batch_dim": True}}),
    ("rec:unit-fresh-source", "rec", {"from": U, "unit": {
        "output": {"class": "gating", "activation": "tanh", "from": "data:source"}}}, {}),
    ("rec:unit", "rec", {"from": U, "unit": {
        "output": {"class": "linear", "from": "data:source", "n_out": 3}}}, {}),
    ("rec:unit-prev", "rec", {"from": U, "unit": {
        "output": {"class": "linear", "from": ["data:source", "prev:output"], "n_out": 3}}}, {}),
    ("rec:unit-base", "rec", {"from": A, "unit": {
        "output": {"class": "combine", "kind": "add", "from": ["data:source", "base:x"]}}},
     {"x": {"class": "gather", "from": U, "position": "pos", "axis": "T"},
      "pos": {"class": "constant", "value": 0, "with_batch_dim": True}}),
    ("subnetwork", "subnetwork", {"from": U, "subnetwork": {
        "output": {"class": "linear", "from": "data", "n_out": 3}}}, {}),
    ("subnetwork:data-unused", "subnetwork", {"from": U, "subnetwork": {
        "output": {"class": "linear", "from": "base:data", "n_out": 3}}}, {}),
    ("slice", "slice", {"from": U, "axis": "F", "slice_start": 1}, {}),
    ("slice_nd", "slice_nd", {"from": U, "start": "st", "size": 2}, {"st": {
        "class": "constant", "value": 0, "with_batch_dim": True}}),
    ("split_dims", "split_dims", {"from": U, "axis": "F", "dims": (2, 2)}, {}),
    ("merge_dims", "merge_dims", {"from": U, "axes": ["T", "F"], "keep_order": True}, {}),
    ("squeeze", "squeeze", {"from": "x", "axis": "spatial"}, {"x": {"class": "expand_dims", "axis": "spatial",
                                                                     "from": U}}),
    ("expand_dims", "expand_dims", {"from": U, "axis": "spatial"}, {}),
    ("concat", "concat", {"from": [(U, "F")]}, {}),
    ("concat:A,U", "concat", {"from": [(A, "F"), (U, "F")]}, {}),
    ("concat:U,A", "concat", {"from": [(U, "F"), (A, "F")]}, {}),
    ("window", "window", {"from": U, "window_size": 3}, {}),
    ("softmax_over_spatial", "softmax_over_spatial", {"from": U}, {}),
    ("dot", "dot", {"from": [A, U], "reduce": "$F"}, {}),
    ("dot:U,A", "dot", {"from": [U, A], "reduce": "$F"}, {}),
    # attention over a base without data, with weights that have data, and the other way round
    # (``GenericAttentionLayer.get_out_data_from_opts`` ends in ``DotLayer.get_out_data_from_opts``)
    ("generic_attention", "generic_attention", {"weights": "w", "base": U},
     {"e": {"class": "linear", "from": A, "n_out": 1}, "w": {"class": "softmax_over_spatial", "from": "e"}}),
    ("generic_attention:weights", "generic_attention", {"weights": "w", "base": A},
     {"e": {"class": "linear", "from": U, "n_out": 1}, "w": {"class": "softmax_over_spatial", "from": "e"}}),
    ("gather", "gather", {"from": U, "position": "pos", "axis": "F"}, {"pos": {
        "class": "constant", "value": 1, "with_batch_dim": True}}),
    ("gather:position", "gather", {"from": A, "position": US, "axis": "T"}, {}),
    ("edit_distance:a,b", "edit_distance", {"a": AS, "b": US}, {}),
    ("edit_distance:b,a", "edit_distance", {"a": US, "b": AS}, {}),
    ("time_chunking", "time_chunking", {"from": U, "chunk_size": 5, "chunk_step": 3}, {}),
    ("length", "length", {"from": U}, {}),
    ("range_in_axis", "range_in_axis", {"from": U, "axis": "T"}, {}),
    ("reinterpret_data", "reinterpret_data", {"from": U, "set_axes": {"T": "T"}}, {}),
    ("cast", "cast", {"from": U, "dtype": "float64"}, {}),
    ("positional_encoding", "positional_encoding", {"from": U, "add_to_input": True}, {}),
    ("self_attention", "self_attention", {"from": U, "num_heads": 2, "total_key_dim": 4, "n_out": 4}, {}),
    ("compare", "compare", {"from": U, "kind": "greater", "value": 0.}, {}),
    ("pad", "pad", {"from": U, "axes": "T", "padding": (1, 1)}, {}),
    ("prefix_in_time", "prefix_in_time", {"from": U, "repeat": 2}, {}),
    ("postfix_in_time", "postfix_in_time", {"from": U, "repeat": 2}, {}),
    ("shift_axis", "shift_axis", {"from": U, "axis": "T", "amount": 1, "pad": True}, {}),
    ("cumsum", "cumsum", {"from": U, "axis": "T"}, {}),
    ("split", "copy", {"from": "x/0"}, {"x": {"class": "split", "from": U, "axis": "F", "num_splits": 2}}),
    ("tile", "tile", {"from": U, "multiples": {"F": 2}}, {}),
    ("swap_axes", "swap_axes", {"from": U, "axis1": "T", "axis2": "F"}, {}),
    ("transpose", "transpose", {"from": U, "perm": {"T": "F", "F": "T"}}, {}),
    ("gating", "gating", {"from": U, "activation": "tanh"}, {}),
    ("seq_len_mask", "seq_len_mask", {"from": U, "mask_value": 0., "axis": "T"}, {}),
    ("scaled_grad", "scaled_grad", {"from": U, "scale": 0.5}, {}),
    ("stack", "stack", {"from": [U]}, {}),
    ("stack:A,U", "stack", {"from": [A, U]}, {}),
    ("stack:U,A", "stack", {"from": [U, A]}, {}),
    ("elemwise_prod", "elemwise_prod", {"from": U, "axes": "F"}, {}),
    ("weighted_sum", "weighted_sum", {"from": U, "axes": "F", "size": 1}, {}),
    ("batch_softmax", "batch_softmax", {"from": U}, {}),
    ("flatten_batch", "flatten_batch", {"from": U}, {}),
    ("repeat", "repeat", {"from": U, "repetitions": 2, "axis": "T"}, {}),
    ("resize", "resize", {"from": U, "factor": 2, "axis": "T"}, {}),
    ("reshape", "reshape", {"from": U, "in_dims": ["$F"], "out_dims": ["$F2a", "$F2b"]}, {}),
    ("switch", "switch", {"condition": "c", "true_from": U, "false_from": A}, {"c": {
        "class": "compare", "kind": "greater", "value": 0., "from": A}}),
    ("switch:A,U", "switch", {"condition": "c", "true_from": A, "false_from": U}, {"c": {
        "class": "compare", "kind": "greater", "value": 0., "from": A}}),
    ("decide", "decide", {"from": U}, {}),
    ("print", "print", {"from": U}, {}),
    ("stft", "stft", {"from": "x", "frame_shift": 2, "frame_size": 4, "fft_size": 4},
     {"x": {"class": "gather", "from": U, "position": "pos", "axis": "F"},
      "pos": {"class": "constant", "value": 0, "with_batch_dim": True}}),
    ("mel_filterbank", "mel_filterbank", {"from": U, "sampling_rate": 16000, "fft_size": 6, "nr_of_filters": 2,
                                          "n_out": 2}, {}),
]


def _dims() -> dict[str, Any]:
    from returnn.tensor import Dim, batch_dim

    time = Dim(kind=Dim.Types.Spatial, description="time", dimension=None)
    feat = Dim(kind=Dim.Types.Feature, description="feat", dimension=4)
    return {"$B": batch_dim, "$T": time, "$F": feat,
            "$F2a": Dim(kind=Dim.Types.Feature, description="f2a", dimension=2),
            "$F2b": Dim(kind=Dim.Types.Feature, description="f2b", dimension=2),
            "$S": Dim(kind=Dim.Types.Feature, description="vocab", dimension=7)}


def _subst(obj: Any, dims: dict[str, Any]) -> Any:
    if isinstance(obj, str) and obj in dims:
        return dims[obj]
    if isinstance(obj, dict):
        return {k: _subst(v, dims) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_subst(v, dims) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_subst(v, dims) for v in obj)
    return obj


def _sources(obj: Any, names: dict[str, str]) -> Any:
    """The probe's source tokens replaced by layer names (in ``from`` and layer-valued options)."""
    if isinstance(obj, str):
        if obj.startswith("base:") and obj[len("base:"):] in names:
            return "base:" + names[obj[len("base:"):]]
        return names.get(obj, obj)
    if isinstance(obj, dict):
        return {k: _sources(v, names) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_sources(v, names) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_sources(v, names) for v in obj)
    return obj


def run_probe(cls: str, opts: dict[str, Any], pre: dict[str, Any], variant: str) -> dict[str, Any]:
    """Build the probe's network in search mode; what RETURNN made of ``output``."""
    import tensorflow as tf
    from returnn.config import Config
    from returnn.tf.layers.base import DataNotAvailableLayer
    from returnn.tf.network import ExternData, TFNetwork
    from returnn.util.basic import BehaviorVersion

    from searchgraph.search.returnn_build import error_layer

    BehaviorVersion._behavior_version = None
    dims = _dims()
    b, t, f, s = dims["$B"], dims["$T"], dims["$F"], dims["$S"]
    extern_data = {
        "data": {"dim_tags": [b, t, f]},
        "aux": {"dim_tags": [b, t, f], "available_for_inference": False},
        "auxs": {"dim_tags": [b, t], "sparse_dim": s, "available_for_inference": False},
        "avs": {"dim_tags": [b, t], "sparse_dim": s, "available_for_inference": True},
    }
    names, pre_variant = VARIANTS[variant]
    names = {**names, **_FIXED}
    net_dict = _subst(copy.deepcopy(pre_variant), dims)
    net_dict.update(_subst(_sources(copy.deepcopy(pre), names), dims))
    net_dict["output"] = _subst({"class": cls, **_sources(copy.deepcopy(opts), names)}, dims)
    graph = tf.Graph()
    try:
        with graph.as_default():
            config = Config()
            config.update({"extern_data": extern_data, "behavior_version": 12})
            BehaviorVersion.set(12)
            ext = ExternData()
            ext.init_from_config(config, auto_create_placeholders=True)
            net = TFNetwork(config=config, extern_data=ext, search_flag=True, train_flag=False, eval_flag=False)
            net.construct_from_dict(net_dict)
            layer = net.layers["output"]
            not_available = {name: {"placeholder": lay.output.placeholder is not None}
                             for name, lay in net.layers.items() if isinstance(lay, DataNotAvailableLayer)}
            if isinstance(layer, DataNotAvailableLayer):
                return {"outcome": "carries", "not_available": not_available}
            src = [lay.name for lay in layer.get_dep_layers() if isinstance(lay, DataNotAvailableLayer)]
            return {"outcome": "builds", "deps_not_available": src, "not_available": not_available}
    except Exception as exc:  # noqa: BLE001 - every failure is an answer
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        try:
            site = error_layer(exc)
        except Exception:  # noqa: BLE001
            site = None
        return {"outcome": "raises", "error": f"{type(exc).__name__}: {first}"[:300], "layer": site,
                "raised_in": _raised_in(exc), "traceback": _frames(exc)[-8:]}
    finally:
        BehaviorVersion._behavior_version = None


def _short(res: dict[str, Any]) -> str:
    text = res["outcome"]
    if res["outcome"] == "raises":
        where = "" if res["raised_in"] == "layer" else f"in the {res['raised_in']}: "
        text += f" ({where}{res['error'][:70]})"
    return f"{text:9}"


def _frames(exc: BaseException) -> list[str]:
    tb, out = exc.__traceback__, []
    while tb is not None:
        code = tb.tb_frame.f_code
        out.append(f"{os.path.basename(code.co_filename)}:{tb.tb_lineno}:{code.co_name}")
        tb = tb.tb_next
    return out


def _raised_in(exc: BaseException) -> str:
    """``template`` (``get_out_data_from_opts`` / ``fixup_out_data``: before RETURNN decides on a
    ``DataNotAvailableLayer``, mostly the probe's own options), ``layer`` (building a layer), or
    ``network`` (outside any layer's construction, e.g. completing a subnetwork afterwards)."""
    tb = exc.__traceback__
    funcs = []
    while tb is not None:
        funcs.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    in_create = [i for i, name in enumerate(funcs) if name == "_create_layer"]
    if not in_create:
        return "network"
    tail = funcs[in_create[-1] + 1:]
    if "__init__" not in tail and any(name in ("get_out_data_from_opts", "fixup_out_data") for name in tail):
        return "template"
    return "layer"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the answers here")
    parser.add_argument("--check", action="store_true", help="compare with searchgraph's class table")
    parser.add_argument("--only", nargs="+", help="probe ids or classes")
    args = parser.parse_args(argv)
    from searchgraph.search.returnn_build import setup

    setup()
    from returnn.log import log

    log.initialize(verbosity=[0])  # RETURNN's construction log on stdout: not wanted here
    only = set(args.only) if args.only else None
    results: dict[str, Any] = {}
    for pid, cls, opts, pre in PROBES:
        if only and pid not in only and cls not in only:
            continue
        res = {"class": cls}
        for variant in VARIANTS:
            with contextlib.redirect_stdout(sys.stderr):  # RETURNN prints the failing layer's options
                res[variant] = run_probe(cls, opts, pre, variant)
        results[pid] = res
        print(f"{pid:26} " + "  ".join(f"{v}: {_short(res[v])}" for v in VARIANTS), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if args.check:
        return _check(results)
    return 0


def measured(results: dict[str, Any], cls: str) -> str | None:
    """The ``without_data`` value the probes give ``cls`` (see ``searchgraph.graph.layers.WITHOUT_DATA``),
    from its single-source probe (the probe id is the class name) and its ``CLASS:A,U`` probe; None when
    not probed or when the probe's own options fail."""
    base = results.get(cls)
    if base is None or base["layer"].get("raised_in", "layer") != "layer":
        return None
    outcome = base["layer"]["outcome"]
    if outcome == "raises":
        return "fresh"
    if outcome == "builds":
        return "fresh_sizes"
    mixed = results.get(f"{cls}:A,U")
    if mixed is not None and mixed["layer"]["outcome"] != "carries":
        return "first"
    if base["data"].get("not_available", {}).get("output", {}).get("placeholder"):
        return "copies"
    return "carries"


def _check(results: dict[str, Any]) -> int:
    """Compare the measured values with ``LayerClass.without_data``; print the measured table."""
    from searchgraph.graph.layers import WITHOUT_DATA, get_layer_class

    table: dict[str, list[str]] = {value: [] for value in WITHOUT_DATA}
    bad = []
    for cls in sorted({res["class"] for res in results.values()}):
        value = measured(results, cls)
        if value is None:
            continue
        table[value].append(cls)
        ours = get_layer_class(cls).without_data
        if ours != value:
            bad.append(f"{cls}: RETURNN {value}, table {ours}")
    for value, names in table.items():
        print(f"{value:12} {', '.join(names)}")
    print("\n".join(bad) if bad else "the class table agrees with RETURNN")
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())

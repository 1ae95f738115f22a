"""RETURNN's own layouts of a network's layers: where each template and each built layer keeps its batch axis.

The worker behind the layout oracle test (``tests/oracle/test_layout_oracle.py``): it builds a case in
search mode on the CPU as :mod:`.returnn_build` does (same network preparation) and records, for every
rec unit template (``_SubnetworkRecCell._construct_template``'s ``layer_data_templates``) and every built
layer, ``[batch_dim_axis, batch_ndim, time_dim_axis]``::

    python -m searchgraph.search.returnn_layouts CASE.json OUT.json

``OUT``: ``{"ok", "error", "templates": {"rec/layer": [...]}, "layers": {"name": [...]}}``.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

from . import returnn_build as rb

__all__ = ["collect_layouts", "main"]


def _layout(data: Any) -> list[Any]:
    return [data.batch_dim_axis, data.batch_ndim, data.time_dim_axis]


def collect_layouts(case: dict[str, Any]) -> dict[str, Any]:
    """Build ``case`` (search mode, CPU) and return its templates' and layers' layouts."""
    import tensorflow as tf
    from returnn.config import Config
    from returnn.tf.layers import rec as rec_module
    from returnn.tf.network import ExternData, TFNetwork
    from returnn.util.basic import BehaviorVersion

    out: dict[str, Any] = {"ok": False, "error": None, "templates": {}, "layers": {}}
    original = rec_module._SubnetworkRecCell._construct_template

    def recording(cell: Any, *args: Any, **kwargs: Any) -> Any:
        got = original(cell, *args, **kwargs)  # a failed construction leaves no templates to compare
        prefix = cell.net.get_absolute_name_prefix()
        for name, template in cell.layer_data_templates.items():
            out["templates"][prefix + name] = _layout(template.output)
        return got

    rec_module._SubnetworkRecCell._construct_template = recording
    BehaviorVersion._behavior_version = None
    dims: dict[str, Any] = {}
    try:
        with tf.Graph().as_default():
            network = rb.prepare_network(rb.make_dims(copy.deepcopy(case["network"]), dims))
            settings: dict[str, Any] = {}
            extern = rb.prepare_extern_data(case.get("extern_data"), dims)
            if extern is not None:
                settings["extern_data"] = extern
            for key in ("num_outputs", "num_inputs"):
                if case.get(key) is not None:
                    settings[key] = case[key]
            settings.update(case.get("config") or {})
            if settings.get("behavior_version") is not None:
                BehaviorVersion.set(settings["behavior_version"])
            config = Config()
            config.update(settings)
            net = None
            try:
                ext = ExternData()
                ext.init_from_config(config, auto_create_placeholders=True)
                net = TFNetwork(config=config, extern_data=ext, search_flag=True, train_flag=False,
                                eval_flag=False)
                net.construct_from_dict(network)
                out["ok"] = True
            except Exception as exc:  # noqa: BLE001 - the templates made before it still count
                out["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            _visit(net, out["layers"], set())
    finally:
        rec_module._SubnetworkRecCell._construct_template = original
        BehaviorVersion._behavior_version = None
    return out


def _visit(net: Any, layers: dict[str, list[Any]], seen: set[int]) -> None:
    if net is None or id(net) in seen:
        return
    seen.add(id(net))
    for layer in list(net.layers.values()):
        name = rb._abs_name(layer)
        if name is not None and name not in layers and not rb._skip(name):
            layers[name] = _layout(layer.output)
        cell = getattr(layer, "cell", None)
        _visit(getattr(cell, "net", None), layers, seen)
        sub = getattr(layer, "subnetwork", None)
        if sub is not None and hasattr(sub, "layers"):
            _visit(sub, layers, seen)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m searchgraph.search.returnn_layouts CASE.json OUT.json", file=sys.stderr)
        return 2
    rb.setup()
    with open(argv[1]) as f:
        case = json.load(f)
    rb._write_atomic(argv[2], collect_layouts(case))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

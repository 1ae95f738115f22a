"""Which layers lack data in search: the class table's ``without_data`` and :func:`availability`.

What RETURNN does with each class is measured by ``scripts/probe_availability.py`` (the live check at
the end runs a few of its probes); the whole-network answers are checked in ``tests/oracle``
(``data-not-available-carried``, ``reject-conv-on-unavailable-text``,
``reject-dot-on-unavailable-in-loop``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from searchgraph.analysis.availability import availability
from searchgraph.graph import build_layer_graph
from searchgraph.graph.layers import (
    WITHOUT_DATA,
    get_layer_class,
    register_layer_class,
    unregister_layer_class,
)
from searchgraph.loading import load

ROOT = Path(__file__).resolve().parent.parent
EXTERN = {"data": {"dim": 4}, "classes": {"dim": 7, "sparse": True}}  # only "data" is available


def _avail(network: dict[str, Any], extern: dict[str, Any] | None = None, **kwargs: Any):
    spec = load({"network": network, "extern_data": extern or EXTERN})
    return availability(spec, build_layer_graph(spec, strict=False), **kwargs)


def test_class_table_records_what_the_templates_do() -> None:
    assert get_layer_class("linear").without_data == "carries"
    assert get_layer_class("unknown_custom_class").without_data == "carries"  # today's behaviour
    for name in ("conv", "pool", "transposed_conv", "dot", "reduce"):
        assert get_layer_class(name).without_data == "fresh"
    assert get_layer_class("length").without_data == "fresh_sizes"
    assert get_layer_class("copy").without_data == "first"
    assert {get_layer_class(n).without_data for n in ("softmax", "eval", "combine", "rec")} <= set(WITHOUT_DATA)


def test_register_layer_class_takes_without_data() -> None:
    try:
        assert register_layer_class("my_conv", without_data="fresh").without_data == "fresh"
        with pytest.raises(ValueError, match="without_data"):
            register_layer_class("my_conv", without_data="sometimes")
    finally:
        unregister_layer_class("my_conv")


EMB = {"class": "linear", "from": "data:classes", "n_out": 3}
CONV = {"class": "conv", "filter_size": [3], "padding": "same", "n_out": 3}


def test_a_carrying_class_is_unavailable_and_a_fresh_one_is_built_on_no_data() -> None:
    a = _avail({"emb": EMB, "act": {"class": "activation", "activation": "relu", "from": "emb"},
                "conv": {**CONV, "from": "act"}, "after": {"class": "linear", "from": "conv", "n_out": 2}})
    assert a.unavailable == {"emb", "act"}
    assert a.without_data == {"conv": "act"}
    assert a.origin["act"] == "classes"


def test_the_extern_data_itself_keeps_its_placeholder() -> None:
    a = _avail({"conv": {**CONV, "from": "data:classes"}, "size": {"class": "length", "from": "emb"}, "emb": EMB})
    assert a.unavailable == {"emb"}
    assert a.without_data == {}  # conv reads data:classes itself; length reads only sizes


def test_a_first_source_class_is_sure_only_on_its_first_source() -> None:
    later = _avail({"emb": EMB, "cat": {"class": "copy", "from": ["data", "emb"]}, "conv": {**CONV, "from": "cat"}})
    assert "cat" in later.unavailable and later.without_data == {}  # ranks decide: no error predicted
    first = _avail({"emb": EMB, "cat": {"class": "copy", "from": ["emb", "data"]}, "conv": {**CONV, "from": "cat"}})
    assert first.without_data == {"conv": "cat"}


def test_a_rec_layer_whose_unit_output_is_available_reads_its_input() -> None:
    net = {"emb": EMB, "loop": {"class": "rec", "from": "emb", "unit": {
        "output": {"class": "gating", "activation": "tanh", "from": "data:source"}}}}
    assert _avail(net).without_data == {"loop": "emb"}
    net["loop"]["unit"]["output"] = {"class": "linear", "from": "data:source", "n_out": 2}
    a = _avail(net)
    assert "loop" in a.unavailable and a.without_data == {}


def test_nothing_lacks_data_with_eval_flag() -> None:
    a = _avail({"emb": EMB, "conv": {**CONV, "from": "emb"}}, eval_flag=True)
    assert a.unavailable == frozenset() and a.without_data == {}


@pytest.mark.returnn
def test_the_class_table_agrees_with_returnn() -> None:
    """A few of the probes, live (a subprocess: this process does not import TensorFlow)."""
    from tests.oracle.oracle import require_returnn

    require_returnn()
    probes = ["linear", "conv", "reduce", "length", "copy", "copy:A,U", "print"]
    script = str(ROOT / "scripts" / "probe_availability.py")
    run = subprocess.run([sys.executable, script, "--check", "--only", *probes], check=False,
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the class table agrees with RETURNN" in run.stdout

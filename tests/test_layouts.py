"""The layout model (:mod:`searchgraph.analysis.layouts`): where templates and frame values keep their
batch axis, checked on RETURNN's rules and on the two own oracle cases RETURNN judged (one time-major
accumulated output it rejects, one it builds because the frame tiles the encoder batch-major)."""

from __future__ import annotations

import json
from pathlib import Path

from searchgraph.analysis import construct
from searchgraph.analysis.layouts import DUMMY, Layout, as_batch_major, common_layout, frame_layout
from searchgraph.graph import build_layer_graph
from searchgraph.loading import netspec_from_settings

CASES = Path(__file__).parent / "oracle" / "cases"
TIME_MAJOR = Layout(3, 1, 0, False, "data:data")  # [T,B,F]
FRAME = Layout(2, 0, None, False)  # [B,F]


def test_first_source_with_most_axes_gives_the_layout() -> None:
    assert common_layout("combine", {}, [FRAME, TIME_MAJOR]) == TIME_MAJOR
    batch_major = Layout(3, 0, 2, False, "data:data")
    # a tie: the first of the largest (Data.get_common_data)
    assert common_layout("combine", {}, [batch_major, TIME_MAJOR]) == batch_major
    assert common_layout("combine", {}, [TIME_MAJOR, batch_major]) == TIME_MAJOR


def test_dummy_inputs_leave_the_real_one() -> None:
    assert common_layout("eval", {}, [DUMMY, DUMMY, TIME_MAJOR]) == TIME_MAJOR
    # only dummies: no batch axis (the replay's batchless templates)
    assert common_layout("linear", {}, [DUMMY]).batch is None


def test_unsure_answers_stay_unsure() -> None:
    other_time = Layout(3, 0, 1, False, "data:other")
    assert common_layout("combine", {}, [TIME_MAJOR, other_time]) is None  # a second time axis
    assert common_layout("combine", {}, [TIME_MAJOR, None]) is None
    # an out_type that adds or drops axes, or sets them, is not modelled
    assert common_layout("eval", {"out_type": {"shape": [1]}}, [TIME_MAJOR]) is None
    assert common_layout("eval", {"out_type": {"shape": [None, 1], "batch_dim_axis": 0}}, [TIME_MAJOR]) is None
    assert common_layout("linear", {"out_type": {"shape": [None, 1]}}, [TIME_MAJOR]) is None
    assert frame_layout("dot", {}, [TIME_MAJOR]) is None
    assert frame_layout("generic_attention", {}, [], options={"weights": None, "base": TIME_MAJOR}) is None


def test_layouts_of_attention_and_front_end_classes() -> None:
    # CombineLayer with a dict out_type keeps its sources' common layout (RETURNN's own layouts: the
    # fertility-accumulated weights, eval with out_type shape [None, 1], are time-major like
    # base:inv_fertility)
    assert common_layout("eval", {"out_type": {"dim": 1, "shape": [None, 1]}}, [TIME_MAJOR]) == TIME_MAJOR
    batch_major = Layout(3, 0, 1, False, "data:data")
    assert frame_layout("reinterpret_data", {"enforce_batch_major": True}, [TIME_MAJOR]) == batch_major
    assert frame_layout("reinterpret_data", {"enforce_time_major": True}, [batch_major]) == TIME_MAJOR
    assert frame_layout("reinterpret_data", {"set_axes": {"T": 0}}, [batch_major]) is None
    # the static axes after batch and time merged: [B,T,F,C] -> [B,T,F*C]
    four = Layout(4, 0, 1, False, "data:data")
    assert frame_layout("merge_dims", {"axes": "static"}, [four]) == batch_major
    # a cell over a frame: [B,F]; over a dummy (a loop's first look at its own state): no batch axis
    frame = Layout(2, 0, None, False)
    assert frame_layout("rnn_cell", {}, [frame]) == frame
    assert frame_layout("rec", {"unit": "nativelstm2"}, [frame]) == frame
    assert frame_layout("rnn_cell", {}, [Layout(0, None, None, False)]) == Layout(1, None, None, False)
    assert frame_layout("rec", {"unit": "nativelstm2"}, [TIME_MAJOR]) == TIME_MAJOR
    # a dot over the weights' spatial axis: the base's other axes, batch first
    weights = Layout(3, 0, 2, False, "data:data")
    assert frame_layout("generic_attention", {}, [], options={"weights": weights, "base": TIME_MAJOR}) == \
        Layout(2, 0, None, False)


def test_embedding_and_reshaping_classes() -> None:
    labels = Layout(1, 0, None, True)
    assert common_layout("linear", {}, [labels]) == Layout(2, 0, None, False)
    # softmax_over_spatial moves the time axis last: [T,B,1] -> [B,1,T]
    assert frame_layout("softmax_over_spatial", {}, [TIME_MAJOR]) == Layout(3, 0, 2, False, "data:data")
    assert frame_layout("reduce", {"axes": "T", "mode": "sum"}, [TIME_MAJOR]) == Layout(2, 0, None, False)
    assert as_batch_major(TIME_MAJOR) == Layout(3, 0, 1, False, "data:data")


def _construction(name: str):
    case = json.loads((CASES / f"{name}.json").read_text())
    spec = netspec_from_settings(case, name)
    return construct(spec, build_layer_graph(spec), "search", False)


def test_templates_and_frames_of_an_attention_decoder_over_an_lstm() -> None:
    c = _construction("time-major-template-batch-major-frame-output")
    # the energies' template is time-major (base:enc_ctx comes first) ...
    assert c.frame_layout("output/energy").batch == 1
    # ... but in the frame base:enc_ctx is tiled into the beam, batch-major first
    assert c.loop_layout("output/energy").batch == 0
    # the fertility-accumulated weights stay time-major: base:inv_fertility is their first input
    # with the most axes while prev: is a dummy, and prev: keeps that layout afterwards
    assert c.frame_layout("output/accum_att_weights").batch == 1
    assert c.loop_layout("output/accum_att_weights").batch == 1
    assert c.loop_layout("output/att_weights") == Layout(3, 0, 2, False, "data:data")
    assert c.loop_layout("output/s") == FRAME


def test_root_layouts_of_a_2d_conv_front_end() -> None:
    c = _construction("conv-encoder-batch-major-weights-output")
    # split_dims adds a channel axis; the 2D conv and pool keep batch and time first, and their time
    # axis with "same" padding and no stride over it; merge_dims of the static axes gives [B,T,F]
    assert c.root_layout("source0") == Layout(4, 0, 1, False, "data:data")
    assert c.root_layout("conv0") == Layout(4, 0, 1, False, "data:data")
    assert c.root_layout("conv0p") == Layout(4, 0, 1, False, "data:data")
    assert c.root_layout("conv_merged") == Layout(3, 0, 1, False, "data:data")
    assert c.root_layout("encoder") == Layout(3, 1, 0, False, "data:data")  # the LSTM: [T,B,F]
    # in the loop: the flattened attention context is batch-major, the accumulated weights time-major
    assert c.loop_layout("output/att_flat") == Layout(2, 0, None, False)
    assert c.loop_layout("output/accum_att_weights") == Layout(3, 1, 0, False, "data:data")

"""The layout model against RETURNN's own layouts (``searchgraph.search.returnn_layouts``, run live) on
our own layout cases: wherever searchgraph is sure of a layout (:mod:`searchgraph.analysis.layouts`: a
rec unit's template in construction order, a frame's real layer, a layer outside loops), its batch axis
and number of axes must be RETURNN's. The shared corpus: ``test_corpus_layout_oracle.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .layout_support import all_layouts, compare
from .oracle import CASES_DIR, require_returnn

pytestmark = pytest.mark.returnn

OWN = ("reject-time-major-accumulated-output", "time-major-template-batch-major-frame-output",
       "choice-beam12-attention")
CASES = [(name, json.loads((CASES_DIR / f"{name}.json").read_text())) for name in OWN]


@pytest.fixture(scope="module")
def layouts() -> dict[str, dict[str, Any]]:
    require_returnn()
    return all_layouts(CASES)


@pytest.mark.parametrize(("cid", "case"), [pytest.param(cid, case, id=cid) for cid, case in CASES])
def test_layouts_agree_with_returnn(cid: str, case: dict[str, Any], layouts: dict[str, dict[str, Any]]) -> None:
    sure, wrong = compare(cid, case, layouts[cid])
    assert wrong == []
    assert sure >= 10  # not vacuous: attention decoders have sure answers


def test_time_major_templates_and_batch_major_frames(layouts: dict[str, dict[str, Any]]) -> None:
    """RETURNN's own answer on the decoder over an LSTM: what the model reproduces."""
    got = layouts["time-major-template-batch-major-frame-output"]
    assert got["templates"]["output/accum_att_weights"][0] == 1  # time-major
    assert got["templates"]["output/energy"][0] == 1  # the energies' template too,
    assert got["layers"]["output/energy"][0] == 0  # but the frame's energies are batch-major

""":func:`analyze`: the stages up to here in one call — load, graph, analysis, and RETURNN's errors.

The analysis stage (:func:`searchgraph.analysis.construct`) says what RETURNN constructs; the rules of
this stage (:func:`~searchgraph.checks.registry.predict_failures`) say where it raises. Both together
make the :class:`~searchgraph.analysis.Analysis` users get (``searchgraph.analyze``).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

from ..analysis.construction import construct
from ..analysis.model import Analysis
from ..analysis.structure import MODES
from ..graph.builder import build_layer_graph
from ..graph.layergraph import LayerGraph
from ..loading import load
from ..loading.netspec import NetSpec
from .registry import predict_failures

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["analyze"]


def analyze(source: NetSpec | dict[str, Any] | str, mode: str = "search", *,
            graph: LayerGraph | nx.DiGraph | None = None, eval_flag: bool | None = None) -> Analysis:
    """Analyse a network's beams as RETURNN builds it in ``mode`` (``search`` or ``train``).

    The flags are RETURNN's ``TFNetwork`` flags: search mode is ``search_flag=True,
    train_flag=False`` and, unless ``eval_flag`` is given, ``eval_flag=False`` (losses inside rec
    loops are then not built); train mode is ``train_flag=True, eval_flag=True``.

    Examples
    --------
    >>> net = {"output": {"class": "rec", "from": [], "max_seq_len": 5, "unit": {
    ...     "prob": {"class": "softmax", "from": "prev:output", "n_out": 5},
    ...     "output": {"class": "choice", "from": "prob", "beam_size": 4, "target": "classes"}}}}
    >>> a = analyze(net)
    >>> a.layers["output/prob"].beam.name, a.layers["output/output"].beam.chain
    ('output/prev:output', ['output/output', 'output/prev:output'])
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    collecting = gc.isenabled()
    gc.disable()  # the analysis builds objects that all live as long as its result: no cycles to collect
    try:
        spec = load(source) if not isinstance(source, NetSpec) else source
        g = graph if graph is not None else build_layer_graph(spec, strict=False)
        construction = construct(spec, g, mode, (mode == "train") if eval_flag is None else eval_flag)
        return construction.result(predict_failures(construction))
    finally:
        if collecting:
            gc.enable()

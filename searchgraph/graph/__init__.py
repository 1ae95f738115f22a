"""Stage 2, the layer graph: a :class:`~searchgraph.loading.netspec.NetSpec` as RETURNN names and links
its layers.

``layers`` is the layer-class table (which options name layers, each class's default ``from`` and beam
role; the registry for custom classes); ``builder`` turns a NetSpec into a graph (one node per layer,
edges by reference kind) and says which layers RETURNN constructs; ``layergraph`` is the graph the
analysis runs on, networkx.DiGraph's storage and read API without networkx's import.
"""

from .builder import (
    build_graph,
    build_layer_graph,
    constructed_layers,
    graph_to_json,
    unit_layers,
    without_prev,
)
from .layergraph import LayerGraph, as_networkx, shortest_path
from .layers import (
    LayerClass,
    get_layer_class,
    is_known_class,
    known_classes,
    register_layer_class,
    unregister_layer_class,
)

__all__ = ["LayerClass", "LayerGraph", "as_networkx", "build_graph", "build_layer_graph",
           "constructed_layers", "get_layer_class", "graph_to_json", "is_known_class", "known_classes",
           "register_layer_class", "shortest_path", "unit_layers", "unregister_layer_class", "without_prev"]

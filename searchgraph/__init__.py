"""searchgraph: make RETURNN's beam search visible and checkable.

The pipeline, one module per stage: :mod:`~searchgraph.config` (load) → :mod:`~searchgraph.graph`
(layer graph) → :mod:`~searchgraph.provenance` (beams per layer). TensorFlow is never imported here.
"""

from .beams import SearchBeam
from .loading import load
from .errors import ConfigError, NetworkError, SearchgraphError
from .graph import build_graph
from .layers import register_layer_class
from .loading.netspec import NetSpec
from .provenance import Analysis, LayerBeam, analyze

__all__ = [
    "Analysis",
    "ConfigError",
    "LayerBeam",
    "NetSpec",
    "NetworkError",
    "SearchBeam",
    "SearchgraphError",
    "analyze",
    "build_graph",
    "load",
    "register_layer_class",
]

__version__ = "0.1.0"

"""searchgraph: make RETURNN's beam search visible and checkable.

The pipeline, one folder per stage, each importing only the stages before it (``docs/architecture.md``):
:mod:`~searchgraph.loading` (config → NetSpec) → :mod:`~searchgraph.graph` (layer graph) →
:mod:`~searchgraph.analysis` (beams, search choices, placements, plans) → :mod:`~searchgraph.checks`
(RETURNN's errors, warnings) → :mod:`~searchgraph.search` (traces, backtracking, step graphs, RETURNN
capture) → :mod:`~searchgraph.render` (diagrams) → :mod:`~searchgraph.tf` (TensorFlow) →
:mod:`~searchgraph.interfaces` (command line, console, docs site, Sphinx, Jupyter).

``import searchgraph`` loads the stages up to the checks (no networkx, rich, NumPy or TensorFlow);
the names of later stages re-exported here load on first use.
"""

from typing import Any

from .analysis import Analysis, InputBeam, LayerBeam, SearchBeam
from .analysis.plan import NetworkPlan, plan_network
from .checks import Finding, analyze, diagnose
from .errors import ConfigError, NetworkError, SearchgraphError
from .graph import build_graph, build_layer_graph, register_layer_class
from .loading import load
from .loading.netspec import NetSpec
from .version import __version__

#: name -> the module it lives in, loaded on first use (NumPy and more come with them)
_LATER = {"SearchTrace": "searchgraph.search.trace", "backtrack": "searchgraph.search.backtrack",
          "compile_step": "searchgraph.search.stepgraph", "capture_search": "searchgraph.search.returnn"}

__all__ = [
    "Analysis",
    "ConfigError",
    "Finding",
    "InputBeam",
    "LayerBeam",
    "NetSpec",
    "NetworkError",
    "NetworkPlan",
    "SearchBeam",
    "SearchTrace",
    "SearchgraphError",
    "__version__",
    "analyze",
    "backtrack",
    "build_graph",
    "build_layer_graph",
    "capture_search",
    "compile_step",
    "diagnose",
    "load",
    "plan_network",
    "register_layer_class",
]


def __getattr__(name: str) -> Any:
    if name in _LATER:
        import importlib

        value = getattr(importlib.import_module(_LATER[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'searchgraph' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LATER))

"""Stage 5, search: beam search as it runs, without TensorFlow.

``trace`` (:class:`SearchTrace`: per frame and choice the labels, source beams, scores and end flags a
search produced; ``.npz``), ``backtrack`` (RETURNN's n-best sequences from a trace, in NumPy:
``gather_tree``), ``stepgraph`` (a decoding step of Python callables analysed and planned as a RETURNN
rec unit, for ``searchgraph.tf``), ``returnn`` (records a real RETURNN search as a trace; RETURNN runs
in a subprocess).
"""

from .backtrack import BacktrackResult, backtrack, gather_tree
from .returnn import CaptureError, capture_search
from .stepgraph import StepGraphError, StepProgram, compile_step
from .trace import SearchTrace, TraceFileError

__all__ = ["BacktrackResult", "CaptureError", "SearchTrace", "StepGraphError", "StepProgram",
           "TraceFileError", "backtrack", "capture_search", "compile_step", "gather_tree"]

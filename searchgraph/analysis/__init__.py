"""Stage 3, the analysis: what RETURNN constructs in search (or training) mode, layer by layer.

Per layer its beam, search choices, placement in the rec loop and constructor inputs, without
TensorFlow: ``structure`` (constructed layers, order, loops), ``placement`` (move-out),
``passes`` (the template and the real construction, to a fixed point), ``templates`` (what the
template pass hands on), ``choices`` (a loop's latest choice), ``availability``
(``DataNotAvailableLayer``), ``beams`` (``SearchBeam``), ``construction`` (the read API the checks
use), ``model`` (the result: :class:`Analysis`), ``plan`` (translation plans over an Analysis).

:func:`searchgraph.analyze` runs this stage and the checks (RETURNN's errors) in one call.
"""

from .beams import CombineError, SearchBeam, combine_beams
from .construction import Construction, construct
from .model import Analysis, InputBeam, LayerBeam
from .plan import FramePlan, InputPlan, LayerPlan, NetworkPlan, Step, plan_for, plan_input, plan_network
from .structure import MODES

__all__ = ["MODES", "Analysis", "CombineError", "Construction", "FramePlan", "InputBeam", "InputPlan",
           "LayerBeam", "LayerPlan", "NetworkPlan", "SearchBeam", "Step", "combine_beams", "construct",
           "plan_for", "plan_input", "plan_network"]

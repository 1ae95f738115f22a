"""Stage 4, the checks: where RETURNN raises while building the network in search mode, and what is
worth a warning.

Every check is one function in one module of its family, registered by a decorator
(:mod:`~searchgraph.checks.registry`): ``beams`` (choices that cannot be brought together),
``choices`` (choice layers RETURNN rejects), ``loops`` (rec loops), ``references`` (names search does
not give), ``pitfalls`` (warnings); ``shapes`` is the small shape model they share. The rules read the
analysis through :class:`~searchgraph.analysis.construction.Construction`, the warnings the finished
:class:`~searchgraph.analysis.model.Analysis`. ``pipeline`` holds :func:`analyze` (the analysis with
RETURNN's errors), ``diagnose`` the findings of a network.
"""

from . import beams, choices, loops, pitfalls, references  # noqa: F401 -- each registers its checks
from .diagnose import diagnose
from .pipeline import analyze
from .registry import (
           WARNING_CODES,
           Failure,
           Finding,
           Note,
           Raised,
           predict_failures,
           rule,
           rule_codes,
           warning,
)

__all__ = ["WARNING_CODES", "Failure", "Finding", "Note", "Raised", "analyze", "diagnose", "predict_failures",
           "rule", "rule_codes", "warning"]

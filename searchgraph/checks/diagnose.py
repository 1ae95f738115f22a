"""Findings: the errors RETURNN will raise in search mode, and the warnings worth a look, explained.

Errors come from the rules (:mod:`searchgraph.checks.registry`: beams that cannot be combined and the
other families of this package); each carries a stable code, the layer, RETURNN's message, the reason
in plain words and a fix. Warnings (:mod:`searchgraph.checks.pitfalls`) cover what RETURNN accepts but
often goes wrong at run time. Pure data; printing is the interfaces' job.
"""

from __future__ import annotations

from typing import Any

from ..analysis.model import Analysis
from .pipeline import analyze
from .pitfalls import input_traces
from .registry import WARNING_CODES, Finding, warning_checks

__all__ = ["WARNING_CODES", "Finding", "diagnose"]


def _errors(analysis: Analysis) -> list[Finding]:
    return [Finding(f.code, "error", layer, f.title, f.reason, f.fix, f.message,
                    f.traces or input_traces(analysis, layer))
            for layer, f in analysis.failures.items()]


def _warnings(analysis: Analysis, *, opt_in: bool) -> list[Finding]:
    return [Finding(code, severity, layer, title, note.reason, note.fix, traces=note.traces)
            for code, severity, title, check in warning_checks(opt_in=opt_in)
            for layer, note in check(analysis).items()]


def diagnose(source: Any, *, compare_modes: bool = False) -> list[Finding]:
    """All findings for a network (path, dict, NetSpec or an :class:`Analysis` in search mode),
    errors first, then warnings, then info, each group in construction order; ``compare_modes``
    adds where training and search differ (SG205)."""
    analysis = source if isinstance(source, Analysis) else analyze(source)
    findings = _errors(analysis) + _warnings(analysis, opt_in=compare_modes)
    order = {name: i for i, name in enumerate(analysis.layers)}
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (rank[f.severity], order.get(f.layer, len(order)), f.code))

"""Findings: the errors RETURNN will raise in search mode, and the warnings worth a look, explained.

Errors come from the provenance analysis (:mod:`searchgraph.failures` and beam combination); each
carries a stable code, the layer, RETURNN's message, the reason in plain words and a fix. Warnings
cover what RETURNN accepts but often goes wrong at run time: custom or ``eval`` layers that mix
beamed and beamless inputs or keep state across frames, a search output that still has a beam, and
layers that differ between training and search. Pure data; printing is the CLI's job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .layers import get_layer_class
from .provenance import Analysis, analyze

__all__ = ["WARNING_CODES", "Finding", "diagnose"]

WARNING_CODES = {
    "SG201": "custom or eval layer mixes beamed and beamless inputs",
    "SG202": "custom layer keeps state across frames",
    "SG203": "search output still has a beam",
    "SG204": "layer class unknown to searchgraph",
    "SG205": "layer differs between training and search",
}


@dataclass(frozen=True)
class Finding:
    """One finding on one layer."""

    code: str
    severity: str  # "error", "warning" or "info"
    layer: str
    title: str
    reason: str
    fix: str
    returnn_message: str | None = None
    traces: tuple[tuple[str, ...], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["traces"] = [list(t) for t in self.traces]
        return data


def _traces(analysis: Analysis, layer: str) -> tuple[tuple[str, ...], ...]:
    """The choice traces of the layer's beamed inputs (where two of them part is the culprit)."""
    lb = analysis.layers.get(layer)
    if lb is None:
        return ()
    seen: dict[str, tuple[str, ...]] = {}
    for item in lb.inputs:
        if item.beam is not None:
            seen.setdefault(item.beam.name, tuple(item.beam.chain))
    if lb.beam is not None and not seen:
        seen[lb.beam.name] = tuple(lb.beam.chain)
    return tuple(seen.values())


def _errors(analysis: Analysis) -> list[Finding]:
    return [Finding(f.code, "error", layer, f.title, f.reason, f.fix, f.message,
                    f.traces or _traces(analysis, layer))
            for layer, f in analysis.failures.items()]


def _custom_layer_warnings(analysis: Analysis) -> list[Finding]:
    out = []
    for name, lb in analysis.layers.items():
        cls = get_layer_class(lb.cls)
        custom = not cls.known
        code = analysis.layer_graph.nodes[name]["options"].get("eval")
        # an eval gets its sources translated like any layer; only code that reaches other layers
        # or the network directly bypasses that
        reaching = isinstance(code, str) and any(k in code for k in ("get_layer", "network", "self."))
        if not (custom or (lb.cls == "eval" and reaching)) or lb.error:
            continue
        beamed = list(dict.fromkeys(i.name for i in lb.inputs if i.beam is not None))
        beamless = list(dict.fromkeys(i.name for i in lb.inputs if i.beam is None and i.batched))
        if beamed and beamless:
            what = f"custom class {lb.cls!r}" if custom else "an eval layer"
            out.append(Finding(
                "SG201", "warning", name, WARNING_CODES["SG201"],
                f"{name} ({what}) gets {', '.join(beamed)} on a beam and {', '.join(beamless)} "
                "without one. RETURNN tiles the beamless inputs it is given as layer arguments, but "
                "code that reaches other layers or tensors directly sees batch and batch*beam rows.",
                "Pass everything the layer uses through 'from' (or layer options), never through "
                "get_layer() in its code; check shapes with debug_print_layer_output_template.",
                traces=_traces(analysis, name)))
        if custom and lb.placement == "loop" and any(i.option == "rec_previous_layer" or
                                                     i.name.endswith(f"prev:{name.rsplit('/', 1)[-1]}")
                                                     for i in lb.inputs):
            out.append(Finding(
                "SG202", "warning", name, WARNING_CODES["SG202"],
                f"{name} (custom class {lb.cls!r}) reads its own previous frame. RETURNN re-selects "
                "prev: values and declared rec state per hypothesis; state kept elsewhere (Python "
                "attributes, TF variables) is not, and mixes hypotheses.",
                "Keep all state in prev: values or the layer's rec vars (get_rec_initial_extra_outputs),"
                " so that RETURNN re-selects it when the beam changes."))
    return out


def _output_warnings(analysis: Analysis) -> list[Finding]:
    names = analysis.spec.search_output_layer
    out = []
    for name in [names] if isinstance(names, str) else list(names or []):
        lb = analysis.layers.get(name)
        if lb is not None and lb.beam is not None:
            out.append(Finding(
                "SG203", "warning", name, WARNING_CODES["SG203"],
                f"search_output_layer {name!r} is on beam {lb.beam.name} ({lb.beam.size} hypotheses "
                "per sequence): the search output gets the whole n-best list, in beam order.",
                f"Output a 'decide' layer on {name} for the best hypothesis, or keep it if you want "
                "the n-best list."))
    return out


def _unknown_class_warnings(analysis: Analysis) -> list[Finding]:
    out = []
    for name, lb in analysis.layers.items():
        if not get_layer_class(lb.cls).known:
            out.append(Finding(
                "SG204", "warning", name, WARNING_CODES["SG204"],
                f"{name} has class {lb.cls!r}, which searchgraph does not know: only its 'from' is "
                "followed, so layers named in its other options are not seen.",
                "Declare it: searchgraph.register_layer_class("
                f"{lb.cls!r}, {{'option': 'str', ...}})."))
    return out


def _mode_differences(analysis: Analysis) -> list[Finding]:
    train = analyze(analysis.spec, mode="train", graph=analysis.layer_graph)
    out = []
    for name in sorted(set(analysis.layers) | set(train.layers)):
        s, t = analysis.layers.get(name), train.layers.get(name)
        if s is not None and t is not None and s.placement == t.placement:
            continue
        if s is None or t is None:
            where = "search only" if t is None else "training only"
            why = f"{name} is built in {where}."
        else:
            why = f"{name} is {t.placement!r} in training but {s.placement!r} in search."
        out.append(Finding(
            "SG205", "info", name, WARNING_CODES["SG205"], why,
            "Expected for choices (they read the target in training) and their inputs; check layers "
            "that must run per frame in both."))
    return out


def diagnose(source: Any, *, compare_modes: bool = False) -> list[Finding]:
    """All findings for a network (path, dict, NetSpec or an :class:`Analysis` in search mode),
    errors first, then warnings, then info, each group in construction order."""
    analysis = source if isinstance(source, Analysis) else analyze(source)
    findings = _errors(analysis) + _custom_layer_warnings(analysis) + _output_warnings(analysis) \
        + _unknown_class_warnings(analysis)
    if compare_modes:
        findings += _mode_differences(analysis)
    order = {name: i for i, name in enumerate(analysis.layers)}
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (rank[f.severity], order.get(f.layer, len(order)), f.code))

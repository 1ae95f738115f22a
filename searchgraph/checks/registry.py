"""The checks' registry: every check is one function, registered with its code by a decorator.

Two kinds:

* :func:`rule` — an error RETURNN raises while building the network in search mode. The function reads
  a :class:`~searchgraph.analysis.construction.Construction` (the analysis' read API) and returns
  ``{layer: RETURNN's message}`` for the layers RETURNN raises on (a :class:`Raised` when the message
  needs choice traces or names for the reason text). It never raises. :func:`predict_failures` runs
  the rules in code order; the first that fires on a layer wins.
* :func:`warning` — what RETURNN accepts but often goes wrong at run time. The function reads the
  finished :class:`~searchgraph.analysis.model.Analysis` and returns ``{layer: Note}``.

A family of checks is one module of this package (``beams``, ``choices``, ``loops``, ``references``,
``pitfalls``); ``searchgraph/checks/__init__.py`` imports them all, so every check is registered
before any is run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..analysis.construction import Construction
from ..analysis.model import Analysis

__all__ = ["WARNING_CODES", "Failure", "Finding", "Note", "Raised", "predict_failures", "raised_by_templates",
           "rule", "rule_codes", "warning", "warning_checks"]

Traces = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Failure:
    """A predicted RETURNN error on one layer: a stable code, RETURNN's message, why, and a fix."""

    code: str
    layer: str
    message: str
    title: str
    reason: str
    fix: str
    traces: Traces = ()


@dataclass(frozen=True)
class Raised:
    """What a rule found on one layer when a plain message is not enough: RETURNN's ``message``, the
    two choice chains that part (``traces``), and ``names`` the rule's reason and fix texts use
    besides ``{layer}`` and ``{local}``."""

    message: str
    traces: Traces = ()
    names: Mapping[str, str] = field(default_factory=dict)


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
    traces: Traces = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["traces"] = [list(t) for t in self.traces]
        return data


@dataclass(frozen=True)
class Note:
    """What a warning check says about one layer: why it is worth a look, and what to do."""

    reason: str
    fix: str
    traces: Traces = ()


Rule = Callable[[Construction], Mapping[str, "str | Raised"]]
WarningCheck = Callable[[Analysis], Mapping[str, Note]]


@dataclass(frozen=True)
class _RuleSpec:
    code: str
    title: str
    reason: str
    fix: str
    fn: Rule


@dataclass(frozen=True)
class _WarningSpec:
    code: str
    severity: str
    title: str
    opt_in: bool
    fn: WarningCheck


_RULES: dict[str, _RuleSpec] = {}
_WARNINGS: dict[str, _WarningSpec] = {}
#: Every warning code with its title (filled as the checks are registered).
WARNING_CODES: dict[str, str] = {}


def rule(code: str, title: str, reason: str, fix: str) -> Callable[[Rule], Rule]:
    """Register an error rule; ``reason`` and ``fix`` may use ``{layer}``, ``{local}`` and the names
    of a :class:`Raised`."""
    def register(fn: Rule) -> Rule:
        if code in _RULES or code in _WARNINGS:
            raise ValueError(f"check code {code} registered twice")
        _RULES[code] = _RuleSpec(code, title, reason, fix, fn)
        return fn
    return register


def warning(code: str, title: str, *, severity: str = "warning",
            opt_in: bool = False) -> Callable[[WarningCheck], WarningCheck]:
    """Register a warning check (``severity`` ``warning`` or ``info``); an ``opt_in`` one runs only
    when asked for (``diagnose(..., compare_modes=True)``)."""
    def register(fn: WarningCheck) -> WarningCheck:
        if code in _RULES or code in _WARNINGS:
            raise ValueError(f"check code {code} registered twice")
        _WARNINGS[code] = _WarningSpec(code, severity, title, opt_in, fn)
        WARNING_CODES[code] = title
        return fn
    return register


def rule_codes() -> dict[str, str]:
    """Every error code with its title (for documentation and the CLI)."""
    return {code: _RULES[code].title for code in sorted(_RULES)}


def warning_checks(*, opt_in: bool = False) -> list[tuple[str, str, str, WarningCheck]]:
    """``(code, severity, title, check)`` of every warning check, in code order (with ``opt_in`` the
    opt-in ones too)."""
    return [(w.code, w.severity, w.title, w.fn) for code, w in sorted(_WARNINGS.items())
            if opt_in or not w.opt_in]


#: errors RETURNN raises while making output templates (transform_config_dict, get_out_data_from_opts,
#: the rec unit's template construction): they come before it decides a layer is a
#: DataNotAvailableLayer, so they happen in never-built parts of the network too
_TEMPLATE_TIME = frozenset({"SG102", "SG105", "SG113", "SG117", "SG139", "SG144", "SG152"})
#: rules on what ``TFNetwork._create_layer_layer_desc`` does (translating the inputs into a common
#: beam) before ``_create_layer`` looks at the output template's availability: they fire on layers
#: that then become DataNotAvailableLayers too (not in loops that are never built)
_BEFORE_AVAILABILITY = frozenset({"SG108", "SG133", "SG137"})


#: rules on what the layer's own computation raises (``__init__`` on its inputs' tensors): after
#: :data:`_BEFORE_AVAILABILITY`'s translation of those inputs
_IN_COMPUTATION = frozenset({"SG132"})

#: rules on a lookup made while a loop's frame is built for real, in the frame's order
_FRAME_LOOKUP = frozenset({"SG162"})
#: checks RETURNN makes on a layer once it is built (``_SubnetworkRecCell._construct``'s template check
#: after ``construct_layer`` returned): an error raised while building the layer comes first
_AFTER_BUILD = frozenset({"SG127"})


def raised_by_templates(failure: Failure, *, template_error: bool = False) -> bool:
    """Whether RETURNN raises ``failure`` already while making output templates (``template_error``:
    an SG101 found by the template pass)."""
    if failure.code == "SG101":
        return template_error
    if failure.code == "SG103":  # missing from/target are read in transform_config_dict
        return "explicitly" in failure.message or "must do search" in failure.message
    # layer names (targets included) are looked up in transform_config_dict
    return failure.code in _TEMPLATE_TIME or failure.message.startswith("LayerNotFound")


def predict_failures(c: Construction) -> dict[str, Failure]:
    """Layer name -> the error RETURNN raises there: the first rule (in code order) that fires on the
    layer. Layers RETURNN never builds (``DataNotAvailableLayer``\\ s and the loops they stop) keep
    only the errors raised while making templates (or before the availability is looked at)."""
    found_by: dict[str, list[Failure]] = {}
    for code in sorted(_RULES):
        spec = _RULES[code]
        for layer, found in spec.fn(c).items():
            raised = found if isinstance(found, Raised) else Raised(found)
            names = {"layer": layer, "local": layer.rsplit("/", 1)[-1], **raised.names}
            found_by.setdefault(layer, []).append(
                Failure(spec.code, layer, raised.message, spec.title, spec.reason.format(**names),
                        spec.fix.format(**names), raised.traces))
    out: dict[str, Failure] = {}
    for layer, failures in found_by.items():
        if layer in c.unavailable or layer in c.unbuilt:
            failures = [f for f in failures
                        if (layer not in c.unbuilt and f.code in _BEFORE_AVAILABILITY)
                        or raised_by_templates(f, template_error=c.template_error(layer))]
        if failures:
            # a check made on the built layer comes after every error raised while building it, and a
            # computation on an input without data after the translation of the layer's inputs
            out[layer] = min(failures, key=lambda f: (f.code in _AFTER_BUILD, f.code in _IN_COMPUTATION))
    # RETURNN builds a searching loop's templates first, then its frame in order
    # (:mod:`~searchgraph.analysis.frame_order`), and stops at the first layer that raises: a source-choice
    # lookup that fails only later in the frame, or in a unit whose templates fail, is never met
    for layer, failure in list(out.items()):
        at = c.frame_position(layer)
        if failure.code not in _FRAME_LOOKUP or at is None:
            continue
        for other, f in out.items():
            if other == layer or c.rec_of(other) != c.rec_of(layer):
                continue
            pos = c.frame_position(other)
            if raised_by_templates(f, template_error=c.template_error(other)) or (pos is not None and pos < at):
                del out[layer]
                break
    return out

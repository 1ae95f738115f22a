"""Verification findings: what the installed RETURNN did with the network, next to our analysis.

``searchgraph diagnose --returnn`` builds and runs the config with RETURNN in a subprocess
(:mod:`searchgraph.search.returnn_verify`, whose answer is a plain dict); :func:`verify_findings` turns
that answer and the static :class:`~searchgraph.analysis.model.Analysis` into findings:

* SG301 (error) RETURNN raised here: RETURNN's exception (construction or run) on the layer it was
  constructing, or whose name scope holds the failing op, explained with our analysis of that layer
  (its inputs' choice traces, its translation plan, and our own finding's reason and fix if we
  predicted one);
* SG302 (warning) static analysis and RETURNN disagree: a layer whose beam, beam size, choice chain,
  search choice or placement differs between RETURNN's build and ours, or a verdict that differs
  (we predict an error where RETURNN builds, or RETURNN raises a search error where we predict none);
* SG303 (error) runtime batch dim differs from the template's batch x beam: the first layer in the
  run whose tensor's batch dim is not what its output template declares;
* SG304 (error) custom layer's template drops / invents / mis-sizes the beam: a class that is not
  RETURNN's own declares an output beam other than the combination of its inputs' beams;
* SG305 (error) RETURNN lacks the layer class: a layer whose class the installed RETURNN does not know
  (not RETURNN's own, not registered by the config or a ``--layer-classes`` file; typically a class of
  a RETURNN fork). RETURNN cannot build that layer, and its exception elsewhere follows from it (a rec
  unit whose templates cannot be made fails later on another layer, e.g. a ``LayerNotFound`` of the
  target on the choice): a fact of the RETURNN install, not a static/RETURNN difference, so a failure
  we do not predict is then no SG302.

Not registered with the rules and warnings: these need RETURNN's answer, which only the caller has.
"""

from __future__ import annotations

from typing import Any

from ..analysis.model import Analysis
from ..analysis.plan import plan_for
from .pitfalls import input_traces
from .registry import Finding

__all__ = ["VERIFY_CODES", "beam_text", "static_differences", "verify_findings"]

VERIFY_CODES = {
    "SG301": "RETURNN raised here",
    "SG302": "static analysis and RETURNN disagree",
    "SG303": "runtime batch dim differs from the template's batch x beam",
    "SG304": "custom layer's template drops, invents or mis-sizes the beam",
    "SG305": "RETURNN lacks the layer class",
}
_WHERE = {"net": "net", "loop": "loop", "in": "input", "out": "output"}


def beam_text(beam: dict[str, Any] | None) -> str:
    """``Beam{'output/prev:output'}(3)`` for a beam as JSON, ``no beam`` for None."""
    return "no beam" if beam is None else f"Beam{{{beam['name']!r}}}({beam['beam_size']})"


def static_differences(analysis: Analysis, layers: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per layer, where our analysis differs from RETURNN's per-layer answer (the oracle format:
    ``beam``, ``beam_size``, ``beam_chain``, ``choice``, ``where``) on a network RETURNN built."""
    out: dict[str, list[str]] = {}
    for name, want in layers.items():
        got = analysis.layers.get(name)
        if got is None:
            out.setdefault(name, []).append("RETURNN builds it, searchgraph does not")
            continue
        have = got.to_json()
        for key in ("beam", "beam_size", "beam_chain", "choice"):
            if have[key] != want.get(key):
                out.setdefault(name, []).append(
                    f"{key}: searchgraph {have[key]!r}, RETURNN {want.get(key)!r}")
        if "where" in want and got.placement != _WHERE.get(want["where"], want["where"]):
            out.setdefault(name, []).append(
                f"where: searchgraph {got.placement!r}, RETURNN {want['where']!r}")
    return out


def _explain(analysis: Analysis, layer: str) -> tuple[str, str]:
    """Our analysis of ``layer``: its beam, its plan, and our own finding's reason and fix."""
    lb = analysis.layers.get(layer)
    if lb is None:
        return "searchgraph's analysis has no such layer.", ""
    beam = f"Beam{{{lb.beam.name!r}}}({lb.beam.size})" if lb.beam is not None else "no beam"
    parts = [f"searchgraph: {layer} ({lb.cls}) is on {beam}" + (f", choice {lb.choice}" if lb.choice else "")]
    try:
        plan = plan_for(analysis, layer)
        steps = [p.describe() for p in plan.inputs]
        if steps:
            parts.append("plan: " + "; ".join(steps))
    except Exception:  # noqa: BLE001, S110 - the plan is only context here
        pass
    fix = ""
    failure = analysis.failures.get(layer)
    if failure is not None:
        parts.append(f"searchgraph predicted {failure.code} ({failure.title}): {failure.reason}")
        fix = failure.fix
    return ". ".join(parts) + ".", fix


def _custom_beam_findings(answer: dict[str, Any]) -> list[Finding]:
    out = []
    for layer, info in sorted((answer.get("custom") or {}).items()):
        if "declared_beam" not in info:
            continue
        given, declared = info.get("combined_input_beam"), info["declared_beam"]
        if given == declared:
            continue
        if declared is None:
            what = "drops the beam"
        elif given is None or given["name"] != declared["name"]:
            what = "invents a beam"
        else:
            what = "mis-sizes the beam"
        inputs = ", ".join(f"{k}: {beam_text(v)}" for k, v in sorted(info.get("input_beams", {}).items()))
        out.append(Finding(
            "SG304", "error", layer, f"custom layer's template {what}",
            f"{layer} (class {info.get('class')!r}, {info.get('python_class')}) {what}: its inputs carry "
            f"{beam_text(given)} ({inputs or 'no inputs'}), its get_out_data_from_opts declares "
            f"{beam_text(declared)}. RETURNN trusts the template: consumers translate or tile by the "
            "declared beam while the tensor keeps the input's batch x beam rows.",
            "In get_out_data_from_opts, give the output the beam of its sources: "
            "out.beam = SearchBeam.get_combined_beam(*[s.output.beam for s in sources]) "
            "(or copy the template from the source: sources[0].output.copy_template(...)).",
            None))
    return out


def _unknown_class_findings(answer: dict[str, Any]) -> list[Finding]:
    """SG305 on each layer whose class the installed RETURNN does not know."""
    unknown = answer.get("unknown_classes") or {}
    version = answer.get("returnn_version")
    returnn = f"the installed RETURNN ({version})" if version else "the installed RETURNN"
    error, failed = answer.get("error_type"), answer.get("error_layer") or "(network)"
    out = []
    for layer, cls in sorted(unknown.items()):
        others = sorted(set(unknown) - {layer})
        also = f" (or from the missing class of {', '.join(others)}, SG305 there)" if others else ""
        if answer.get("stage") != "construct":
            then = (" RETURNN built this search network without it (the layer is not needed in search), "
                    "but fails wherever the layer is needed.")
        elif failed == layer:
            then = f" RETURNN's {error} on this layer (SG301) is this missing class."
        elif failed in unknown:
            then = (f" RETURNN stopped before, on the missing class {unknown[failed]!r} of {failed} "
                    "(SG301, SG305 there); it cannot build this layer either.")
        elif error == "LayerNotFound":
            then = (f" RETURNN's {error} on {failed} follows from it{also} (see SG301): RETURNN cannot make "
                    f"{layer}'s template, and what it falls back on for the layers that read it fails "
                    "(in a rec unit, the lookup of the target, which search mode does not provide).")
        else:
            then = (f" RETURNN's {error} on {failed} follows from it{also} (see SG301): RETURNN cannot make "
                    f"{layer}'s template, and the layers built from it fail in its place.")
        out.append(Finding(
            "SG305", "error", layer, VERIFY_CODES["SG305"],
            f"{layer} has class {cls!r}, which {returnn} does not know (get_layer_class: unknown layer "
            f"class {cls!r}; it is neither RETURNN's own nor registered by the config or a --layer-classes "
            f"file), so RETURNN cannot build {layer}.{then} This is a fact of the RETURNN install, not a "
            "difference between searchgraph's analysis and RETURNN: to verify the search, RETURNN needs "
            "the class.",
            f"Run with a RETURNN that has {cls!r} (the RETURNN version or fork the config was written for), "
            "or register the class: define it in the config (register_layer_class / "
            "auto_register_layer_classes) or pass the Python file that defines it with "
            "--layer-classes FILE.py; then rerun searchgraph diagnose --returnn.",
            None))
    return out


def _mismatch_finding(answer: dict[str, Any], analysis: Analysis) -> list[Finding]:
    mismatches = answer.get("mismatches") or []
    if not mismatches:
        return []
    first = mismatches[0]
    layer = first["layer"]
    custom = (answer.get("custom") or {}).get(layer, {})
    given = custom.get("combined_input_beam")
    lb = analysis.layers.get(layer)
    static = ""
    if lb is not None and lb.beam is not None:
        static = f" searchgraph expects Beam{{{lb.beam.name!r}}}({lb.beam.size}) here."
    inputs = f" Its inputs carry {beam_text(given)}." if custom else ""
    rest = f" ({len(mismatches) - 1} more layers after it)" if len(mismatches) > 1 else ""
    return [Finding(
        "SG303", "error", layer, VERIFY_CODES["SG303"],
        f"In the search run, {layer}'s tensor has batch dim {first['runtime_batch']} (shape "
        f"{first['runtime_shape']}), but its template declares batch dim {first['declared_batch']} "
        f"(beam {first['declared_beam']}): the first layer whose runtime batch is not its template's "
        f"batch x beam{rest}.{inputs}{static}",
        "Make the layer's output template carry the beam its tensor has (get_out_data_from_opts).",
        None, input_traces(analysis, layer))]


def verify_findings(analysis: Analysis, answer: dict[str, Any]) -> list[Finding]:
    """The verification findings of RETURNN's ``answer`` (:mod:`searchgraph.search.returnn_verify`)
    next to ``analysis`` (the same config, search mode): SG301 first, then SG305, SG303, SG304, SG302."""
    out: list[Finding] = []
    custom = _custom_beam_findings(answer)
    unknown = answer.get("unknown_classes") or {}
    if answer.get("error"):
        layer = answer.get("error_layer") or "(network)"
        stage = {"load": "while loading the config", "construct": "while building the network",
                 "run": "while running the search"}.get(answer.get("stage", ""), "")
        why, fix = _explain(analysis, layer)
        first = (answer.get("mismatches") or [None])[0]
        if answer.get("stage") == "run" and first is not None:
            why += (f" The cause is upstream: {first['layer']} is the first layer whose runtime batch dim "
                    f"({first['runtime_batch']}) is not its template's ({first['declared_batch']}); "
                    "see SG303.")
            fix = fix or (f"Fix the output template of {first['layer']} (get_out_data_from_opts): "
                          "see SG303/SG304.")
        elif unknown and answer.get("stage") == "construct":
            names = ", ".join(f"{name} ({cls!r})" for name, cls in sorted(unknown.items()) if name != layer)
            if layer in unknown:
                why += (f" The installed RETURNN does not have this layer's class {unknown[layer]!r}: this "
                        "error is that missing class" + (f" (it lacks the class of {names} too)" if names
                                                         else "") + "; see SG305.")
            else:
                why += (f" The installed RETURNN does not know the layer class of {names}: it cannot build "
                        "the network as written, and this error follows from that; see SG305.")
            fix = (f"Make the class available to RETURNN (a RETURNN version or fork that has it, or "
                   f"--layer-classes FILE.py): see SG305. {fix}").strip()
        elif custom:
            names = ", ".join(f.layer for f in custom)
            why += f" A custom layer's output template does not carry its inputs' beam: {names}; see SG304."
            fix = fix or f"Fix the output template of {names} (get_out_data_from_opts): see SG304."
        out.append(Finding("SG301", "error", layer, VERIFY_CODES["SG301"],
                           f"RETURNN raised {answer.get('error_type')} {stage} on {layer}. {why}",
                           fix or "See the findings on this layer and the layers it reads.",
                           answer["error"], input_traces(analysis, layer)))
    out += _unknown_class_findings(answer)
    out += _mismatch_finding(answer, analysis)
    out += custom
    for layer, diffs in static_differences(analysis, answer.get("layers") or {}).items():
        out.append(Finding("SG302", "warning", layer, VERIFY_CODES["SG302"],
                           f"RETURNN's build and searchgraph's analysis differ on {layer}: "
                           + "; ".join(diffs),
                           "Trust RETURNN's answer; if the layer's class is custom, declare how it treats "
                           "beams (--layer-classes, [tool.searchgraph.layer-classes]).", None))
    built = answer.get("stage") == "run"
    for layer, message in analysis.errors.items():
        if built:
            out.append(Finding("SG302", "warning", layer, VERIFY_CODES["SG302"],
                               f"searchgraph predicts {message.splitlines()[0]!r} on {layer}; "
                               "RETURNN builds it.",
                               "Trust RETURNN's answer.", None))
    # RETURNN failing on a network with classes it lacks is explained by SG305, not a difference
    if answer.get("stage") == "construct" and answer.get("search_related") and not analysis.errors \
            and not unknown:
        layer = answer.get("error_layer") or "(network)"
        out.append(Finding("SG302", "warning", layer, VERIFY_CODES["SG302"],
                           f"RETURNN raises a search error on {layer}; searchgraph predicts none.",
                           "Trust RETURNN's answer.", answer.get("error")))
    return out

"""Warnings: what RETURNN accepts in search but often goes wrong at run time, or does nothing.

Custom or ``eval`` layers that mix beamed and beamless inputs or keep state across frames, a search
output that still has a beam, classes searchgraph does not know, a ``decide`` with nothing to decide,
and (on request) layers that differ between training and search. Each check reads the finished
:class:`~searchgraph.analysis.model.Analysis`.
"""

from __future__ import annotations

from ..analysis.model import Analysis
from ..graph.layers import get_layer_class
from .pipeline import analyze
from .registry import Note, warning


def input_traces(analysis: Analysis, layer: str) -> tuple[tuple[str, ...], ...]:
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


@warning("SG201", "custom or eval layer mixes beamed and beamless inputs")
def custom_layer_mixes_beams(analysis: Analysis) -> dict[str, Note]:
    """RETURNN tiles the inputs it passes as layer arguments; code reaching other layers directly
    does not get them tiled."""
    out = {}
    for name, lb in analysis.layers.items():
        custom = not get_layer_class(lb.cls).known
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
            out[name] = Note(
                f"{name} ({what}) gets {', '.join(beamed)} on a beam and {', '.join(beamless)} "
                "without one. RETURNN tiles the beamless inputs it is given as layer arguments, but "
                "code that reaches other layers or tensors directly sees batch and batch*beam rows.",
                "Pass everything the layer uses through 'from' (or layer options), never through "
                "get_layer() in its code; check shapes with debug_print_layer_output_template.",
                input_traces(analysis, name))
    return out


@warning("SG202", "custom layer keeps state across frames")
def custom_layer_state(analysis: Analysis) -> dict[str, Note]:
    """A custom layer in the loop reading its own previous frame: state kept outside ``prev:`` and
    rec vars is not re-selected with the beam."""
    out = {}
    for name, lb in analysis.layers.items():
        if get_layer_class(lb.cls).known or lb.error or lb.placement != "loop":
            continue
        local = name.rsplit("/", 1)[-1]
        if any(i.option == "rec_previous_layer" or i.name.endswith(f"prev:{local}") for i in lb.inputs):
            out[name] = Note(
                f"{name} (custom class {lb.cls!r}) reads its own previous frame. RETURNN re-selects "
                "prev: values and declared rec state per hypothesis; state kept elsewhere (Python "
                "attributes, TF variables) is not, and mixes hypotheses.",
                "Keep all state in prev: values or the layer's rec vars (get_rec_initial_extra_outputs),"
                " so that RETURNN re-selects it when the beam changes.")
    return out


@warning("SG203", "search output still has a beam")
def search_output_on_beam(analysis: Analysis) -> dict[str, Note]:
    """``search_output_layer`` on a beam: the whole n-best list is written, in beam order."""
    names = analysis.spec.search_output_layer
    out = {}
    for name in [names] if isinstance(names, str) else list(names or []):
        lb = analysis.layers.get(name)
        if lb is not None and lb.beam is not None:
            out[name] = Note(
                f"search_output_layer {name!r} is on beam {lb.beam.name} ({lb.beam.size} hypotheses "
                "per sequence): the search output gets the whole n-best list, in beam order.",
                f"Output a 'decide' layer on {name} for the best hypothesis, or keep it if you want "
                "the n-best list.")
    return out


@warning("SG204", "layer class unknown to searchgraph")
def unknown_class(analysis: Analysis) -> dict[str, Note]:
    """Only ``from`` is followed for a class the layer-class table does not know."""
    out = {}
    for name, lb in analysis.layers.items():
        if not get_layer_class(lb.cls).known:
            out[name] = Note(
                f"{name} has class {lb.cls!r}, which searchgraph does not know: only its 'from' is "
                "followed, so layers named in its other options are not seen.",
                "Declare it: searchgraph.register_layer_class("
                f"{lb.cls!r}, {{'option': 'str', ...}}).")
    return out


@warning("SG207", "unknown layer class on a beam path")
def unknown_class_on_beam(analysis: Analysis) -> dict[str, Note]:
    """An undeclared class whose inputs carry a beam: its beam is our guess, and a wrong output template
    there (beam dropped or invented) is the classic custom-layer search bug RETURNN only shows at run time."""
    out = {}
    for name, lb in analysis.layers.items():
        if get_layer_class(lb.cls).known:
            continue
        beams = sorted({i.beam.name for i in lb.inputs if i.beam is not None})
        if not beams:
            continue
        out[name] = Note(
            f"{name} has class {lb.cls!r}, unknown to searchgraph, and its inputs carry "
            f"{', '.join(beams)}: searchgraph assumes the output is on their combination (as RETURNN's "
            "generic layers), but the class's own get_out_data_from_opts decides; if it drops or invents "
            "the beam, RETURNN builds the network and the search fails at run time.",
            f"Declare the class (--layer-classes FILE.toml or [tool.searchgraph.layer-classes.{lb.cls}] "
            "with layer_options and beam), and check it with the installed RETURNN: "
            "searchgraph diagnose --returnn CONFIG.")
    return out


@warning("SG205", "layer differs between training and search", severity="info", opt_in=True)
def mode_differences(analysis: Analysis) -> dict[str, Note]:
    """Layers built in one mode only, or placed differently in the loop (``--compare-modes``)."""
    train = analyze(analysis.spec, mode="train", graph=analysis.layer_graph)
    out = {}
    for name in sorted(set(analysis.layers) | set(train.layers)):
        s, t = analysis.layers.get(name), train.layers.get(name)
        if s is not None and t is not None and s.placement == t.placement:
            continue
        if s is None or t is None:
            where = "search only" if t is None else "training only"
            why = f"{name} is built in {where}."
        else:
            why = f"{name} is {t.placement!r} in training but {s.placement!r} in search."
        out[name] = Note(why, "Expected for choices (they read the target in training) and their inputs; "
                              "check layers that must run per frame in both.")
    return out


@warning("SG206", "decide without a beam")
def decide_without_beam(analysis: Analysis) -> dict[str, Note]:
    """``DecideLayer.__init__``: a source without a beam is copied as it is; RETURNN only logs
    "decide on ..., there are no search choices". The decide then picks nothing: usually it sits on
    the wrong layer (one decided already, or one the search never reaches)."""
    out: dict[str, Note] = {}
    if analysis.mode != "search":
        return out
    for name, lb in analysis.layers.items():
        if lb.cls != "decide" or lb.error or not lb.available or name in analysis.unbuilt:
            continue
        sources = [i for i in lb.inputs if i.option == "from"]
        if sources and all(i.beam is None for i in sources):
            what = ", ".join(i.name for i in sources)
            out[name] = Note(
                f"{name} decides {what}, which carries no beam in search: there is nothing to choose "
                "from, RETURNN copies its input (and only logs 'there are no search choices').",
                f"Decide a layer on the search's beam (the rec layer or a layer computed from it), or "
                f"drop {name}.")
    return out

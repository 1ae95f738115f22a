"""Build RETURNN networks in search mode and report what RETURNN decided (the oracle).

Standalone script, meant to run in a subprocess (it imports TensorFlow and RETURNN)::

    python tests/oracle/runner.py IN.json OUT.json
    python tests/oracle/runner.py --self-check

``IN.json`` is a list of cases ``{"id", "network", "extern_data", "num_outputs", "num_inputs",
"config", "flags"}`` (a corpus case dict plus an ``id`` works as is). ``OUT.json`` maps id -> result,
rewritten atomically after every case, in the format of the corpus ``*.oracle.json`` files plus
``error_layer``, ``error_full`` and ``translations``.

Before building, the network gets exactly the changes listed in the corpus README (native LSTM units
become ``standardlstm``, ``eval`` layers lose ``out_type``, config-function eval strings and callable
placeholders are replaced or dropped, ``load_on_init`` / ``custom_param_importer`` are dropped,
``__dim__`` placeholders become ``Dim`` objects, ``name`` is dropped from ``extern_data`` entries).

``search_error`` rule (``search_error_reason`` says which part fired):

1. a ``LayerNotFound`` is a search error iff the missing name (without ``data:``) is an extern-data
   key: a target that search mode does not provide as a layer (in training it would resolve);
2. otherwise, True if a traceback frame lies in RETURNN's search-choice / beam code: a function in
   ``SEARCH_FUNCS`` (``get_search_choices``, ``translate_to_common_search_beam``, ``select_if_needed``,
   ``_opt_search_resolve``, ``get_combined_beam``, ``copy_extend_with_beam``, ``maybe_transform``, ...),
   a method of ``SearchChoices`` / ``SelectSearchSourcesLayer`` / ``SearchBeam``, or a ``ChoiceLayer``
   method in a search network;
3. otherwise, True if the message carries a beam / search marker (``SEARCH_MESSAGE_MARKERS``: a
   ``Beam{...}`` in a tensor's repr, "search choices", "max_seq_len" -- RETURNN's beam assertions and
   the search-only "specify max_seq_len" are raised from generic code, so only the text shows them).

This reproduces every ``search_error`` in the corpus. Extras in each result: ``error_layer``,
``error_full``, ``search_error_reason``, ``traceback_funcs`` (the last 40 frames), ``translations``
and ``unknown_classes`` (layer path -> class, for the layers whose class this RETURNN does not know:
:func:`unknown_layer_classes`).
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import time
from typing import Any

# The unit names RETURNN cannot build on the CPU with TF 2.21 (native kernels); see the corpus README.
NATIVE_UNITS = {"nativelstm", "nativelstm2", "lstmblock2", "cudnnlstm", "zoneoutlstm"}
DROPPED_OPTIONS = {"load_on_init", "custom_param_importer"}
ERROR_MESSAGE_CHARS = 300  # the corpus keeps the first 300 characters of the message's first line
ERROR_FULL_CHARS = 4000

# Traceback frames (function names) that mean "search-choice resolution / beam handling".
SEARCH_FUNCS = {
    "get_search_choices",
    "_get_all_search_choices",
    "get_src_choices_seq",
    "translate_to_common_search_beam",
    "translate_to_this_search_beam",
    "select_if_needed",
    "_opt_search_resolve",
    "_get_search_choice_seq",
    "get_combined_beam",
    "copy_extend_with_beam",
    "get_search_choices_from_beam",
    "_get_search_choices_beam_size",
    "_has_search_choices",
    "debug_search_choices",
    "maybe_transform",
}
SEARCH_CLASSES = {"SearchChoices", "SelectSearchSourcesLayer", "SearchBeam"}
SEARCH_MESSAGE_MARKERS = ("Beam{", "beam", "search choices", "search_choices", "max_seq_len")


# ----------------------------------------------------------------------------------------------------
# Network preparation (pure Python, no RETURNN needed except for Dim objects)


def _is_callable_placeholder(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"__callable__"}


def prepare_network(obj: Any) -> Any:
    """Apply the corpus README's modifications to a net dict (returns a modified deep copy)."""
    if isinstance(obj, list):
        return [prepare_network(v) for v in obj if not _is_callable_placeholder(v)]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    cls = obj.get("class")
    for key, value in obj.items():
        if key in DROPPED_OPTIONS:
            continue
        if cls == "eval" and key == "out_type":
            continue
        if (cls == "eval" and key == "eval") and (
            _is_callable_placeholder(value) or (isinstance(value, str) and "get_config()" in value)
        ):
            out[key] = "source(0)"
            continue
        if _is_callable_placeholder(value):
            continue
        if (
            cls in ("rec", "rnn_cell")
            and key == "unit"
            and isinstance(value, str)
            and value.lower() in NATIVE_UNITS
        ):
            out[key] = "standardlstm"
            continue
        out[key] = prepare_network(value)
    return out


def make_dims(obj: Any, cache: dict[str, Any]) -> Any:
    """Replace ``{"__dim__": {...}}`` placeholders by RETURNN ``Dim`` objects (one per description)."""
    from returnn.tensor import Dim, batch_dim

    if isinstance(obj, list):
        return [make_dims(v, cache) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if set(obj) == {"__dim__"}:
        desc = obj["__dim__"]
        if desc.get("is_batch_dim"):
            return batch_dim
        key = json.dumps(desc, sort_keys=True)
        if key not in cache:
            kind = {"spatial": Dim.Types.Spatial, "feature": Dim.Types.Feature, "batch": Dim.Types.Batch}.get(
                desc.get("kind"), Dim.Types.Unspecified
            )
            cache[key] = Dim(kind=kind, description=desc.get("description"), dimension=desc.get("dimension"))
        return cache[key]
    return {k: make_dims(v, cache) for k, v in obj.items()}


def prepare_extern_data(extern_data: dict[str, Any] | None, cache: dict[str, Any]) -> dict[str, Any] | None:
    """``extern_data`` with Dim objects and without ``name`` entries."""
    if extern_data is None:
        return None
    out = {}
    for key, opts in extern_data.items():
        opts = make_dims(opts, cache)
        if isinstance(opts, dict):
            opts = {k: v for k, v in opts.items() if k != "name"}
        out[key] = opts
    return out


# ----------------------------------------------------------------------------------------------------
# Recording translations (SelectSearchSourcesLayer) and the layer under construction


_TRANSLATIONS: list[dict[str, Any]] | None = None
_CONSTRUCT_FUNCS = ("_create_layer", "_create_layer_layer_desc", "construct_layer")


def _abs_name(layer: Any) -> str | None:
    if layer is None:
        return None
    try:
        return layer.get_absolute_name()
    except Exception:  # noqa: BLE001 - best effort for odd internal layers
        return getattr(layer, "name", None)


def _frame_layer_name(frame: Any) -> str | None:
    """Qualified name of the layer a construction frame works on, or None.

    Construction frames: ``TFNetwork.construct_layer`` / ``_create_layer`` / ``_create_layer_layer_desc``
    (``self`` is the network), and the rec unit's template getter ``RecSubnetGetTemplateLayer.__call__``
    (``name`` in the unit; ``prev:`` stripped; ``base:`` lookups are not constructions).
    """
    from returnn.tf.network import TFNetwork

    code = frame.f_code
    loc = frame.f_locals
    name = loc.get("name")
    if not isinstance(name, str):
        return None
    if code.co_name == "__call__" and code.co_filename.endswith("rec.py") and "lself" in loc:
        net = getattr(loc.get("self"), "net", None)
        if name.startswith("base:"):
            return None
        name = name.removeprefix("prev:")
    elif code.co_name in _CONSTRUCT_FUNCS:
        net = loc.get("self")
    else:
        return None
    if isinstance(net, TFNetwork):
        try:
            return net.get_absolute_name_prefix() + name
        except Exception:  # noqa: BLE001
            return name
    return None


_PASS_THROUGH = {"select_if_needed", "translate_to_this_search_beam", "<listcomp>", "<dictcomp>", "__init__"}
# Contexts where the translated value feeds the layer under construction.
_CONSTRUCTION_CONTEXTS = {
    "translate_to_common_search_beam",
    "_static_get_target_value",
    "get_target_value",
    "get_prev_end_flag",
}


def _translation_site() -> tuple[str | None, str | None]:
    """(consuming layer, RETURNN function that asked for the translation) from the live stack.

    The context is the innermost RETURNN frame that is not part of the translation machinery itself:
    ``translate_to_common_search_beam`` (a layer's kwargs at construction; the consumer is the layer
    being created), ``get_prev_end_flag`` (a layer under construction asks for the end flag in its
    beam), ``get_layer`` (the in-loop ``end`` flag OR-ed with ``prev:end``), ``maybe_transform``
    / ``body`` (frame end: values carried to the next frame, the end flag, ``need_last`` layers; no
    consumer layer).
    """
    frame = sys._getframe(2)
    while frame is not None and (
        frame.f_code.co_name in _PASS_THROUGH or "returnn" not in frame.f_code.co_filename
    ):
        frame = frame.f_back
    if frame is None:
        return None, None
    context = frame.f_code.co_name
    if context == "get_layer" and frame.f_code.co_filename.endswith("rec.py"):
        cell, name = frame.f_locals.get("self"), frame.f_locals.get("name")
        net = getattr(cell, "net", None)
        if net is not None and isinstance(name, str):
            return net.get_absolute_name_prefix() + name, context
        return None, context
    if context not in _CONSTRUCTION_CONTEXTS:
        return None, context
    while frame is not None:
        name = _frame_layer_name(frame)
        if name is not None:
            return name, context
        frame = frame.f_back
    return None, context


def install_translation_recorder() -> None:
    """Monkeypatch ``SelectSearchSourcesLayer.__init__`` to log every translation."""
    from returnn.tf.layers.basic import SelectSearchSourcesLayer

    orig_init = SelectSearchSourcesLayer.__init__
    if getattr(orig_init, "_searchgraph_patched", False):
        return

    def patched_init(self: Any, search_choices_layer: Any, sources: list[Any], **kwargs: Any) -> None:
        consumer, context = _translation_site()
        entry: dict[str, Any] = {"layer": consumer, "context": context}
        try:
            src = sources[0]
            entry["source"] = _abs_name(src)
            src_sc = src.get_search_choices()
            entry["from_choice"] = _abs_name(src_sc.owner) if src_sc else None
            sc = search_choices_layer.get_search_choices()
            entry["to_choice"] = _abs_name(sc.owner) if sc else None
        except Exception as exc:  # noqa: BLE001
            entry["record_error"] = f"{type(exc).__name__}: {exc}"
            sc = src_sc = None
        try:
            orig_init(self, search_choices_layer=search_choices_layer, sources=sources, **kwargs)
        except BaseException as exc:
            entry["action"] = "error"
            entry["chain"] = []
            entry["error"] = f"{type(exc).__name__}: {_first_line(exc)}"
            if _TRANSLATIONS is not None:
                _TRANSLATIONS.append(entry)
            raise
        if not sc or sc is src_sc:
            entry["action"], entry["chain"] = "keep", []
        elif not src_sc:
            entry["action"], entry["chain"] = "tile", []
        else:
            entry["action"] = "select"
            entry["chain"] = [_abs_name(c.owner) for c in reversed(self.search_choices_seq or [])]
        if _TRANSLATIONS is not None:
            _TRANSLATIONS.append(entry)

    patched_init._searchgraph_patched = True  # type: ignore[attr-defined]
    SelectSearchSourcesLayer.__init__ = patched_init


# ----------------------------------------------------------------------------------------------------
# Collecting per-layer answers


def _beam_info(layer: Any) -> dict[str, Any]:
    beam = layer.output.beam
    chain = []
    b = beam
    seen = set()
    from returnn.tf.util.data import SearchBeam

    while isinstance(b, SearchBeam) and id(b) not in seen:
        seen.add(id(b))
        chain.append(b.name)
        b = b.dependency
    return {
        "beam": beam.name if beam else None,
        "beam_size": beam.beam_size if beam else None,
        "beam_chain": chain,
    }


def _choice(layer: Any) -> str | None:
    try:
        owner = layer.network.get_search_choices(src=layer)
    except Exception as exc:  # noqa: BLE001
        return f"!{type(exc).__name__}"
    return _abs_name(owner)


def _skip(name: str) -> bool:
    """``data*`` and ``prev:*`` layers (and ``:i``-style helpers) are not listed, as in the corpus."""
    parts = name.split("/")
    return any(p.startswith(("data", "prev:", ":")) for p in (parts[0], parts[-1]))


def collect_layers(root_net: Any) -> dict[str, dict[str, Any]]:
    """Every constructed layer of the root net (sub-nets, extra nets, rec units) with its answers.

    Keyed by ``get_absolute_name()``. ``where``: ``net`` for the root net, flattened sub-nets and
    extra nets (``extra.search:``); for a rec unit, the cell's loop net (``loop``), then its
    ``input_layers_net`` (``in``), then its ``output_layers_net`` (``out``). The first visit wins, so an
    in-loop layer's loop-accumulated wrapper in the output net (same name) stays ``loop``, as in the
    corpus. Names ``data*``, ``prev:*`` and ``:*`` (``:i``) are skipped.
    """
    from returnn.tf.layers.rec import _SubnetworkRecCell

    out: dict[str, dict[str, Any]] = {}
    seen_nets: set[int] = set()

    def visit_net(net: Any, where: str) -> None:
        if net is None or id(net) in seen_nets:
            return
        seen_nets.add(id(net))
        for name, layer in list(net.layers.items()):
            visit_layer(name, layer, where)
        for extra in getattr(net, "extra_nets", {}).values():
            visit_net(extra, "net")

    def visit_layer(name: str, layer: Any, where: str) -> None:
        if _skip(name) or _skip(layer.name):
            return
        key = _abs_name(layer)
        if key is None or key in out:
            return
        info = _beam_info(layer)
        info["choice"] = _choice(layer)
        info["where"] = where
        out[key] = info
        cell = getattr(layer, "cell", None)
        if isinstance(cell, _SubnetworkRecCell):
            visit_net(cell.net, "loop")
            visit_net(cell.input_layers_net, "in")
            visit_net(cell.output_layers_net, "out")
        sub = getattr(layer, "subnetwork", None)
        if sub is not None and sub is not layer.network and hasattr(sub, "layers"):
            visit_net(sub, where)

    visit_net(root_net, "net")
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------------------------------
# Layer classes the installed RETURNN lacks


#: Options of RETURNN's classes that hold a whole layer dict, built under the owning layer's name.
INLINE_LAYER_OPTIONS = {"cond": ("condition", "true_layer", "false_layer"), "masked_computation": ("unit",)}


def _class_text(cls: Any) -> str:
    return cls if isinstance(cls, str) else getattr(cls, "__name__", None) or repr(cls)


def unknown_layer_classes(network: dict[str, Any]) -> dict[str, str]:
    """The layers of ``network`` (a net dict, as given to ``construct_from_dict``) whose class the
    running RETURNN does not know: layer path -> class name.

    Known is what ``get_layer_class`` finds in RETURNN's class registry (``_LayerClassDict``) now:
    RETURNN's own classes and whatever the config (``register_layer_class``,
    ``auto_register_layer_classes``) or ``--layer-classes`` registered before. The walk follows rec
    units (``rec`` with a ``unit`` dict) and ``subnetwork`` dicts (paths ``outer/inner``, as RETURNN's
    absolute names) and the layer dicts that ``cond`` / ``masked_computation`` build under their own
    name (reported on the owning layer); ``#`` entries of the root net are skipped, as RETURNN does, and
    so are entries that are no layer dicts (no ``class``). Classes of unknown owners are not looked into.
    """
    from returnn.tf.layers.basic import get_layer_class_name_list

    known = set(get_layer_class_name_list())
    out: dict[str, str] = {}

    def visit_net(net: Any, prefix: str) -> None:
        if not isinstance(net, dict):
            return
        for name, desc in net.items():
            if isinstance(name, str) and not (prefix == "" and name.startswith("#")):
                visit_layer(prefix + name, desc)

    def visit_layer(path: str, desc: Any) -> None:
        if not isinstance(desc, dict) or "class" not in desc:
            return
        cls = desc["class"]
        if not isinstance(cls, str) or cls not in known:
            out.setdefault(path, _class_text(cls))
            return
        if cls == "rec" and isinstance(desc.get("unit"), dict):
            visit_net(desc["unit"], path + "/")
        elif cls == "subnetwork":
            visit_net(desc.get("subnetwork"), path + "/")
        for option in INLINE_LAYER_OPTIONS.get(cls, ()):
            visit_layer(path, desc.get(option))

    visit_net(network, "")
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------------------------------
# Exceptions


def _first_line(exc: BaseException) -> str:
    msg = str(exc)
    return msg.split("\n", 1)[0]


def _frames(exc: BaseException) -> list[Any]:
    """All traceback frames (outermost first), following the exception's own traceback."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def error_layer(exc: BaseException) -> str | None:
    """Qualified name of the innermost layer under construction when ``exc`` was raised.

    For a ``LayerNotFound``, the innermost construction frames are the failed lookup of the missing
    name itself; the layer under construction is the one that asked for it: the next frame out, or,
    when a rec unit's template pass retries the lookup on its own, the template that first asked for
    it (``_TemplateLayer.construct_stack``).
    """
    from returnn.tf.network import LayerNotFound

    all_frames = _frames(exc)
    frames = [f for f in all_frames if _frame_layer_name(f) is not None]
    if isinstance(exc, LayerNotFound) and frames:
        missing = getattr(exc, "layer_name", None) or ""
        missing = missing.split(":", 1)[1] if missing.startswith(("prev:", "base:")) else missing
        for f in reversed(all_frames):
            template, cell = f.f_locals.get("layer_"), f.f_locals.get("self")
            if f.f_code.co_name == "__call__" and getattr(template, "name", None) == missing:
                asker = getattr(template, "construct_stack", None)
                if asker is not None and hasattr(cell, "net"):
                    return cell.net.get_absolute_name_prefix() + asker.name
                break
        while frames and (_frame_layer_name(frames[-1]) or "").rsplit("/", 1)[-1] == missing:
            frames.pop()
    return _frame_layer_name(frames[-1]) if frames else None


def search_error_reason(exc: BaseException, extern_keys: set[str]) -> str | None:
    """Why ``exc`` counts as a search error (the rule in the module docstring), or None if it does not.

    Checked in order: a ``LayerNotFound`` for an extern-data key (``not-found:KEY``); a traceback
    frame in RETURNN's search code (``frame:FUNC`` / ``frame:CLASS.FUNC``); a beam / search marker in
    the message (``message:MARKER``).
    """
    from returnn.tf.network import LayerNotFound

    if isinstance(exc, LayerNotFound):
        name = getattr(exc, "layer_name", None) or ""
        bare = name.split(":", 1)[1] if name.startswith("data:") else name
        return f"not-found:{bare}" if bare in extern_keys else None
    for frame in _frames(exc):
        code = frame.f_code
        if "returnn" not in code.co_filename:
            continue
        if code.co_name in SEARCH_FUNCS:
            return f"frame:{code.co_name}"
        self_cls = type(frame.f_locals.get("self")).__name__
        if self_cls in SEARCH_CLASSES:
            return f"frame:{self_cls}.{code.co_name}"
        if self_cls == "ChoiceLayer":
            net = getattr(frame.f_locals["self"], "network", None)
            if getattr(net, "search_flag", False):
                return f"frame:ChoiceLayer.{code.co_name}"  # the choice's own construction, in search
    msg = str(exc)
    for marker in SEARCH_MESSAGE_MARKERS:
        if marker in msg:
            return f"message:{marker}"
    return None


#: RETURNN's layers that read or change the beam itself (besides ``ChoiceLayer`` and
#: ``SelectSearchSourcesLayer``): an exception raised by their own code is a beam check.
BEAM_LAYER_CLASSES = {
    "ChoiceLayer",
    "DecideLayer",
    "DecideKeepBeamLayer",
    "SplitBatchBeamLayer",
    "ChoiceGetBeamScoresLayer",
    "ChoiceGetSrcBeamsLayer",
}


def _frame_class(frame: Any) -> type | None:
    """The class a RETURNN frame runs a method of (``self``'s type or a classmethod's ``cls``)."""
    loc = frame.f_locals
    if "self" in loc:
        return type(loc["self"])
    cls = loc.get("cls")
    return cls if isinstance(cls, type) else None


def _defining_class(cls: type | None, code: Any) -> type | None:
    """The class in ``cls``'s MRO whose own method runs ``code`` (None for inherited generic code
    such as ``LayerBase.get_rec_initial_output``, which is not the beam layer's own)."""
    for klass in getattr(cls, "__mro__", ()):
        func = klass.__dict__.get(code.co_name)
        func = getattr(func, "__func__", func)  # classmethod / staticmethod
        if getattr(func, "__code__", None) is code:
            return klass
    return None


def _is_choice_like(cls: Any) -> bool:
    """Whether ``cls`` is RETURNN's ``BaseChoiceLayer`` or one of its subclasses (choice, decide,
    decide_keep_beam, split_batch_beam: the layers that own search choices)."""
    from returnn.tf.layers.rec import BaseChoiceLayer

    return isinstance(cls, type) and issubclass(cls, BaseChoiceLayer)


def search_related_reason(exc: BaseException, extern_keys: set[str]) -> str | None:
    """The issue's definition of a search-related failure, by where RETURNN raised it (the
    traceback frames), never by the wording of the message; None for any other failure.

    Search-related: (1) a ``LayerNotFound`` for an extern-data key (a target / data key search
    mode does not provide); (2) raised in RETURNN's search-choice resolution, beam selection or
    backtracking code (a function in ``SEARCH_FUNCS``, a method of ``SearchChoices`` /
    ``SelectSearchSourcesLayer`` / ``SearchBeam``); (3) raised by the own code (not inherited generic
    code, not option parsing in ``transform_config_dict``) of a layer that reads or makes the beam
    (``BEAM_LAYER_CLASSES`` and every ``BaseChoiceLayer`` subclass) in a search network, or while the
    rec loop sets up such a layer's beam state (``_get_init_extra_outputs``); (4) the rec loop's search-only checks: a loop layer kept inside
    the loop for the search read from outside (``get_layer_from_outside``), and the loop length that
    search takes from ``max_seq_len`` (``cond``: "specify max_seq_len").

    Unlike :func:`search_error_reason` (the corpus files' rule, kept for them), a shape or dim
    assertion elsewhere whose message merely prints a beamed tensor is not search-related.
    """
    from returnn.tf.network import LayerNotFound

    if isinstance(exc, LayerNotFound):
        name = getattr(exc, "layer_name", None) or ""
        bare = name.split(":", 1)[1] if name.startswith("data:") else name
        return f"not-found:{bare}" if bare in extern_keys else None
    frames = [f for f in _frames(exc) if "returnn" in f.f_code.co_filename]
    for frame in frames:
        code = frame.f_code
        if code.co_name in SEARCH_FUNCS:
            return f"frame:{code.co_name}"
        cls = _frame_class(frame)
        name = cls.__name__ if cls is not None else ""
        if name in SEARCH_CLASSES:
            return f"frame:{name}.{code.co_name}"
        owner = _defining_class(cls, code)
        if owner is not None and code.co_name != "transform_config_dict" and (
                owner.__name__ in BEAM_LAYER_CLASSES or _is_choice_like(owner)):
            net = getattr(frame.f_locals.get("self"), "network", None) or frame.f_locals.get("network")
            if getattr(net, "search_flag", True):
                return f"frame:{owner.__name__}.{code.co_name}"
        if code.co_name == "_get_init_extra_outputs" and code.co_filename.endswith("rec.py"):
            template_cls = frame.f_locals.get("cl")
            if _is_choice_like(template_cls):
                return f"frame:_get_init_extra_outputs({template_cls.__name__})"
        if code.co_name == "get_layer_from_outside" and code.co_filename.endswith("rec.py"):
            return "frame:get_layer_from_outside"
    last = frames[-1] if frames else None
    if last is not None and last.f_code.co_name == "cond" and last.f_code.co_filename.endswith("rec.py") \
            and str(exc).endswith("specify max_seq_len"):
        return "frame:cond(max_seq_len)"
    return None


# ----------------------------------------------------------------------------------------------------
# Building one case


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Build one case in a fresh graph and return its result dict."""
    global _TRANSLATIONS
    import tensorflow as tf
    from returnn.config import Config
    from returnn.tf.network import ExternData, TFNetwork
    from returnn.util.basic import BehaviorVersion

    flags = {"search_flag": True, "train_flag": False, "eval_flag": False}
    flags.update(case.get("flags") or {})
    result: dict[str, Any] = {
        "ok": False,
        "error": None,
        "search_error": None,
        "error_layer": None,
        "error_full": None,
        "construct_s": None,
        "layers": {},
        "translations": [],
        "unknown_classes": {},
    }
    translations: list[dict[str, Any]] = []
    _TRANSLATIONS = translations
    dim_cache: dict[str, Any] = {}
    extern_keys: set[str] = set()
    BehaviorVersion._behavior_version = None  # fresh per case (the setter refuses changes)
    graph = tf.Graph()
    start = time.time()
    try:
        with graph.as_default():
            network = prepare_network(make_dims(copy.deepcopy(case["network"]), dim_cache))
            result["unknown_classes"] = unknown_layer_classes(network)
            settings: dict[str, Any] = {}
            extern_data = prepare_extern_data(case.get("extern_data"), dim_cache)
            if extern_data is not None:
                settings["extern_data"] = extern_data
            for key in ("num_outputs", "num_inputs"):
                if case.get(key) is not None:
                    settings[key] = case[key]
            settings.update(case.get("config") or {})
            if settings.get("behavior_version") is not None:
                BehaviorVersion.set(settings["behavior_version"])
            config = Config()
            config.update(settings)
            extern_keys = set((extern_data or {}).keys()) | set((case.get("num_outputs") or {}).keys())
            start = time.time()
            ext = ExternData()
            ext.init_from_config(config, auto_create_placeholders=True)
            net = TFNetwork(config=config, extern_data=ext, **flags)
            net.construct_from_dict(network)
            result["construct_s"] = time.time() - start
            result["ok"] = True
            result["layers"] = collect_layers(net)
    except Exception as exc:  # noqa: BLE001 - every failure is an answer
        result["construct_s"] = time.time() - start
        result["error"] = f"{type(exc).__name__}: {_first_line(exc)[:ERROR_MESSAGE_CHARS]}"
        result["error_full"] = str(exc)[:ERROR_FULL_CHARS]
        try:
            reason = search_error_reason(exc, extern_keys)
            result["search_error"], result["search_error_reason"] = reason is not None, reason
        except Exception:  # noqa: BLE001
            result["search_error"] = None
        try:
            reason = search_related_reason(exc, extern_keys)
            result["search_related"], result["search_related_reason"] = reason is not None, reason
        except Exception as err:  # noqa: BLE001
            result["search_related"], result["search_related_reason"] = None, f"!{err!r}"
        try:
            result["error_layer"] = error_layer(exc)
        except Exception:  # noqa: BLE001
            result["error_layer"] = None
        result["traceback_funcs"] = [
            f"{os.path.basename(f.f_code.co_filename)}:{f.f_code.co_name}" for f in _frames(exc)
        ][-40:]
        result["traceback_frames"] = [
            f"{os.path.basename(f.f_code.co_filename)}:"
            f"{(c.__name__ + '.') if (c := _frame_class(f)) is not None else ''}{f.f_code.co_name}"
            for f in _frames(exc)
        ][-40:]
    finally:
        _TRANSLATIONS = None
        BehaviorVersion._behavior_version = None
    result["translations"] = translations
    return result


def _write_atomic(path: str, data: Any) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".oracle-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def setup() -> None:
    """Import TF/RETURNN once: graph mode, CPU, quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    install_translation_recorder()


def self_check() -> int:
    """Print the RETURNN and TF versions."""
    setup()
    import returnn
    import tensorflow as tf

    print(json.dumps({"returnn": returnn.__version__, "tensorflow": tf.__version__, "python": sys.version}))
    return 0


def main(argv: list[str]) -> int:
    """CLI entry point."""
    if argv[1:] == ["--self-check"]:
        return self_check()
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        cases = json.load(f)
    if isinstance(cases, dict):
        cases = [cases]
    setup()
    results: dict[str, Any] = {}
    for i, case in enumerate(cases):
        cid = case.get("id", str(i))
        results[cid] = run_case(case)
        _write_atomic(argv[2], results)
    _write_atomic(argv[2], results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

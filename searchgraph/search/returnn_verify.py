"""Verify a config with the RETURNN the user has installed (``searchgraph diagnose --returnn``).

:func:`verify_returnn` runs this module as a subprocess (``python -m searchgraph.search.returnn_verify
REQUEST.json OUT.json``; this process imports neither TensorFlow nor RETURNN). The worker:

1. loads the config with RETURNN's own ``Config.load_file``, so the config's class definitions,
   ``register_layer_class`` / ``auto_register_layer_classes`` calls take effect; ``--layer-classes``
   Python files are run next and every ``LayerBase`` subclass with a ``layer_class`` they define is
   registered;
2. builds the network in search mode on the CPU (:mod:`returnn_build`'s recording: each layer's beam,
   search choice and placement; RETURNN's exception and the layer it was constructing);
3. for every layer whose class is not RETURNN's own, records the beams its inputs carry and the beam
   its output template declares;
4. runs one search through the built graph (random weights, random input of the config's extern data,
   as ``trace --capture`` does), every layer's output wrapped so that the run records each layer
   whose runtime batch dim is not the batch x beam its template declares, in the order TensorFlow
   ran them; RETURNN's run error is kept with the layer whose name scope holds the failing op.

The answer (JSON): ``ok``, ``error``, ``error_type``, ``error_layer``, ``stage`` ("load", "construct"
or "run"), ``layers`` (the oracle's per-layer format), ``custom`` (name -> class, input beams, declared
beam), ``mismatches`` (first first: layer, runtime batch dim, declared batch dim, declared beam),
``unknown_classes`` (layer path -> class, for the layers whose class the installed RETURNN does not
know once the config and ``--layer-classes`` files are loaded:
:func:`returnn_build.unknown_layer_classes`), ``returnn_version``, ``construct_s`` and ``run_s``. The
config runs without the trusted loader's sandbox: ``--returnn`` means running the user's RETURNN on the
user's config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import SearchgraphError

__all__ = ["VerifyError", "verify_cases", "verify_returnn"]

_PKG_ROOT = Path(__file__).resolve().parents[2]
_MESSAGE_CHARS = 500


class VerifyError(SearchgraphError, RuntimeError):
    """RETURNN is missing, or the verification worker died without an answer."""


def verify_returnn(path: str | os.PathLike[str], *, layer_class_files: list[str] | tuple[str, ...] = (),
                   epoch: int | None = None, overrides: dict[str, str] | None = None,
                   seed: int = 1, batch: int = 2, max_len: int = 5, timeout: float = 600.0,
                   python: str | None = None) -> dict[str, Any]:
    """Build and run ``path`` with RETURNN in search mode in a subprocess; the worker's answer.
    ``overrides`` are RETURNN's ``++key value`` settings; ``epoch`` is the one ``get_network`` gets."""
    request = {"path": os.path.abspath(os.fspath(path)), "seed": seed, "batch": batch, "max_len": max_len,
               "layer_class_files": [os.path.abspath(f) for f in layer_class_files], "epoch": epoch,
               "overrides": dict(overrides or {})}
    start = time.monotonic()
    answer = _run_worker([request], timeout, python)[0]
    answer["total_s"] = time.monotonic() - start
    return answer


def verify_cases(cases: list[dict[str, Any]], *, seed: int = 1, batch: int = 2, max_len: int = 5,
                 timeout: float = 1800.0, python: str | None = None) -> list[dict[str, Any]]:
    """The same for corpus-style case dicts (``network``, ``extern_data``, ``config``, ...; the
    oracle's network preparation applies), all in one subprocess; one answer per case, in order."""
    requests = [{"case": case, "seed": seed, "batch": batch, "max_len": max_len} for case in cases]
    return _run_worker(requests, timeout, python)


def _run_worker(requests: list[dict[str, Any]], timeout: float, python: str | None) -> list[dict[str, Any]]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PKG_ROOT), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="searchgraph-verify-") as tmp:
        req, out = Path(tmp, "request.json"), Path(tmp, "out.json")
        req.write_text(json.dumps(requests))
        try:
            proc = subprocess.run([python or sys.executable, "-m", "searchgraph.search.returnn_verify",
                                   str(req), str(out)], check=False, capture_output=True, text=True, env=env,
                                  timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired as exc:
            raise VerifyError(f"RETURNN did not finish within {timeout:.0f} s") from exc
        if not out.exists():
            tail = (proc.stderr or proc.stdout or "")[-2000:]
            if "No module named '" in tail:
                last = tail.strip().splitlines()[-1]
                raise VerifyError(f"--returnn needs RETURNN and TensorFlow in {python or sys.executable} "
                                  f"(with searchgraph's dependencies): {last}",
                                  hint="pip install returnn tensorflow-cpu")
            raise VerifyError(f"the RETURNN worker exited with status {proc.returncode} without an "
                              f"answer: {tail.strip().splitlines()[-1] if tail.strip() else '(no output)'}")
        answers = json.loads(out.read_text())
        missing = [a for a in answers
                   if a.get("stage") == "worker" and a.get("error_type") == "ModuleNotFoundError"
                   and any(f"'{m}" in a.get("error", "") for m in ("returnn", "tensorflow"))]
        if missing:
            raise VerifyError(f"--returnn needs RETURNN and TensorFlow in {python or sys.executable}: "
                              f"{missing[0]['error']}", hint="pip install returnn tensorflow-cpu")
        return answers + [{"ok": False, "stage": "worker", "error": "not run (the worker died before it)",
                           "error_type": "WorkerCrash"}] * (len(requests) - len(answers))


# ----------------------------------------------------------------------------------------------------
# The worker (imports TensorFlow and RETURNN)


def _first_line(exc: BaseException) -> str:
    """The message's first line; for TensorFlow's run errors ("Graph execution error:" then where the
    node was defined), the line before the node reference ``[[...]]``: the op's own message."""
    lines = [line.strip() for line in str(getattr(exc, "message", None) or exc).strip().splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("[[") and i > 0 and lines[i - 1]:
            return lines[i - 1]
    return lines[0] if lines else ""


def _beam_json(beam: Any) -> dict[str, Any] | None:
    if beam is None:
        return None
    return {"name": beam.name, "beam_size": beam.beam_size}


def _is_returnn_class(cls: type) -> bool:
    return cls.__module__.split(".", 1)[0] == "returnn"


def _returnn_version() -> str | None:
    import returnn

    return getattr(returnn, "__version__", None)


def _case_config(case: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A corpus-style case as RETURNN's config and net dict, prepared as the oracle prepares it."""
    from returnn.config import Config

    from . import returnn_build as rb

    dims: dict[str, Any] = {}
    network = rb.prepare_network(rb.make_dims(json.loads(json.dumps(case["network"])), dims))
    settings: dict[str, Any] = {k: case[k] for k in ("num_outputs", "num_inputs") if case.get(k) is not None}
    extern_data = rb.prepare_extern_data(case.get("extern_data"), dims)
    if extern_data is not None:
        settings["extern_data"] = extern_data
    settings.update(case.get("config") or {})
    config = Config()
    config.update(settings)
    return config, network


def _load_config(request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    import runpy

    from returnn.config import Config, set_global_config
    from returnn.tf.layers.basic import LayerBase, get_layer_class_name_list, register_layer_class

    config = Config()
    # as rnn.py CONFIG ++task search: the command line applies before the file runs and again after it
    overrides = {"task": "search", **(request.get("overrides") or {})}
    args = [item for key, value in overrides.items() for item in (f"++{key}", value)]
    config.parse_cmd_args(args)
    config.load_file(request["path"])
    config.parse_cmd_args(args)
    set_global_config(config)
    for path in request.get("layer_class_files") or ():
        for value in runpy.run_path(path).values():
            name = getattr(value, "layer_class", None) if isinstance(value, type) else None
            if name and issubclass(value, LayerBase) and name not in get_layer_class_name_list():
                register_layer_class(value)
    network = config.typed_value("network")
    get_network = config.typed_value("get_network")
    if callable(get_network):
        epoch = request.get("epoch") or config.int("load_epoch", 0) or config.int("num_epochs", 0) or 1
        network = get_network(epoch=epoch)
    if not isinstance(network, dict):
        raise TypeError("the config defines no network dict")
    return config, network


def _scope_layer(scopes: dict[str, str], op_name: str) -> str | None:
    """The layer whose name scope holds ``op_name`` (the longest matching scope)."""
    best = None
    for scope, layer in scopes.items():
        if scope and op_name.startswith(scope) and (best is None or len(scope) > len(best[0])):
            best = (scope, layer)
    return best[1] if best else None


def _instrument(scopes: dict[str, str], custom: dict[str, Any], mismatches: list[dict[str, Any]]) -> Any:
    """Patch ``TFNetwork._create_layer``: record name scopes and custom layers' beams, and wrap each
    layer's output in a pass-through that records a runtime batch dim other than the declared one."""
    import numpy as np
    import tensorflow as tf
    from returnn.tf.network import TFNetwork
    from returnn.tf.util.data import Dim, SearchBeam

    original = TFNetwork._create_layer
    seen: set[str] = set()

    def record(name: str, beam: str) -> Any:
        def fn(shape: Any, declared: Any, axis: Any) -> Any:
            got, want = int(shape[int(axis)]), int(declared)
            if got != want and name not in seen:
                seen.add(name)
                mismatches.append({"layer": name, "runtime_batch": got, "declared_batch": want,
                                   "declared_beam": beam, "runtime_shape": [int(d) for d in shape]})
            return np.int32(0)
        return fn

    def create_layer(self: Any, name: str, layer_class: Any, **layer_desc: Any) -> Any:
        layer = original(self, name=name, layer_class=layer_class, **layer_desc)
        try:
            full = self.get_absolute_name_prefix() + name
            scopes.setdefault(layer.get_absolute_name_scope_prefix(), full)
            if not _is_returnn_class(type(layer)):
                beams = [s.output.beam for s in layer.get_dep_layers() if s.output is not None]
                combined = SearchBeam.get_combined_beam(*beams) if beams else None
                custom[full] = {"class": getattr(layer_class, "layer_class", type(layer).__name__),
                                "python_class": type(layer).__name__,
                                "input_beams": {s.name: _beam_json(s.output.beam)
                                                for s in layer.get_dep_layers()},
                                "combined_input_beam": _beam_json(combined),
                                "declared_beam": _beam_json(layer.output.beam)}
        except Exception as exc:  # noqa: BLE001 - e.g. input beams that cannot be combined
            custom.setdefault(full, {})["note"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        out = layer.output
        x = out.placeholder
        # a tensor that is a dim's size (a ``length`` layer's output) stays the same object: RETURNN finds the
        # dim by its size tensor (``Dim.get_tag_from_size_tensor``), and a layer that makes a dim from it
        # (``range_from_length``) would meet a size it does not know
        if isinstance(x, tf.Tensor) and out.have_batch_axis() and Dim.get_tag_from_size_tensor(x) is None:
            try:
                declared = out.get_batch_dim()
                beam = repr(out.beam.name if out.beam else None)
                check = tf.compat.v1.py_func(record(full, beam), [tf.shape(x), declared, out.batch_dim_axis],
                                             tf.int32, stateful=True, name="sg_batch_check")
                with tf.control_dependencies([check]):
                    wrapped = tf.identity(x)
                wrapped.set_shape(x.shape)
                out.placeholder = wrapped
            except Exception:  # noqa: BLE001, S110 - a layer we cannot wrap is not checked
                pass
        return layer

    TFNetwork._create_layer = create_layer
    return original


def _fetches(net: Any) -> dict[str, Any]:
    import tensorflow as tf

    fetches = {}
    for name, layer in net.layers.items():
        x = getattr(layer.output, "placeholder", None)
        if isinstance(x, tf.Tensor) and not name.startswith("data"):
            fetches[name] = x
    return fetches


def run(request: dict[str, Any]) -> dict[str, Any]:
    """The worker: load, build, run; the answer dict (never raises for the config's errors)."""
    from . import returnn_build as rb

    rb.setup()
    from returnn.tf.network import TFNetwork
    from returnn.util.basic import BehaviorVersion

    answer: dict[str, Any] = {"ok": False, "stage": "load", "error": None, "error_type": None,
                              "error_layer": None, "layers": {}, "custom": {}, "mismatches": [],
                              "unknown_classes": {}, "returnn_version": _returnn_version(),
                              "construct_s": None, "run_s": None, "search_related": None}
    scopes: dict[str, str] = {}
    BehaviorVersion._behavior_version = None
    try:
        config, network = _case_config(request["case"]) if "case" in request else _load_config(request)
        if config.int("behavior_version", 0):
            BehaviorVersion.set(config.int("behavior_version", 0))
    except Exception as exc:  # noqa: BLE001 - the config's own error
        answer.update(error=f"{type(exc).__name__}: {_first_line(exc)[:_MESSAGE_CHARS]}",
                      error_type=type(exc).__name__)
        return answer
    # after loading: the config's own classes and the --layer-classes files are registered by now
    answer["unknown_classes"] = rb.unknown_layer_classes(network)
    original = _instrument(scopes, answer["custom"], answer["mismatches"])
    try:
        return _build_and_run(request, config, network, answer, scopes)
    finally:
        TFNetwork._create_layer = original
        BehaviorVersion._behavior_version = None


def _build_and_run(request: dict[str, Any], config: Any, network: dict[str, Any], answer: dict[str, Any],
                   scopes: dict[str, str]) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf
    from returnn.tf.network import ExternData, TFNetwork

    from . import returnn_build as rb
    from .returnn import feed_inputs

    graph = tf.Graph()
    answer["stage"] = "construct"
    start = time.time()
    with graph.as_default():
        tf.compat.v1.set_random_seed(request["seed"])
        try:
            ext = ExternData()
            ext.init_from_config(config, auto_create_placeholders=True)
            net = TFNetwork(config=config, extern_data=ext, search_flag=True, train_flag=False,
                            eval_flag=False)
            net.construct_from_dict(network)
        except Exception as exc:  # noqa: BLE001 - RETURNN's verdict
            answer["construct_s"] = time.time() - start
            extern_keys = set(ext.data) if "ext" in locals() else set()
            declared = config.typed_value("num_outputs")
            extern_keys |= set(declared) if isinstance(declared, dict) else {config.value("target", "classes")}
            answer.update(error=f"{type(exc).__name__}: {_first_line(exc)[:_MESSAGE_CHARS]}",
                          error_type=type(exc).__name__, error_layer=rb.error_layer(exc))
            answer["search_related"] = rb.search_related_reason(exc, extern_keys) is not None
            return answer
        answer["construct_s"] = time.time() - start
        answer["layers"] = rb.collect_layers(net)
        answer["stage"] = "run"
        start = time.time()
        rnd = np.random.RandomState(request["seed"])
        try:
            feed, _record, _batch = feed_inputs(ext, request, {}, rnd)
            with tf.compat.v1.Session(graph=graph, config=tf.compat.v1.ConfigProto(
                    intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)) as session:
                session.run(tf.compat.v1.global_variables_initializer())
                session.run(_fetches(net), feed_dict=feed)
            answer["ok"] = True
        except Exception as exc:  # noqa: BLE001 - RETURNN's run failure
            op = getattr(exc, "op", None)
            op_name = getattr(op, "name", "") or ""
            answer.update(error=f"{type(exc).__name__}: {_first_line(exc)[:_MESSAGE_CHARS]}",
                          error_type=type(exc).__name__, error_op=op_name,
                          error_layer=_scope_layer(scopes, op_name + "/"))
        answer["run_s"] = time.time() - start
    return answer


def main(argv: list[str]) -> int:
    """``python -m searchgraph.search.returnn_verify REQUEST.json OUT.json``."""
    if len(argv) != 3:
        print(main.__doc__, file=sys.stderr)
        return 2
    answers = []
    requests = json.loads(Path(argv[1]).read_text())
    if requests:  # TensorFlow and RETURNN once, before the first case's clock starts
        from . import returnn_build as rb

        rb.setup()
        import returnn.tf.network  # noqa: F401
    for request in requests:
        start = time.monotonic()
        try:
            answer = run(request)
        except Exception as exc:  # noqa: BLE001 - the worker's own failure, as an answer
            import traceback

            answer = {"ok": False, "stage": "worker",
                      "error": f"{type(exc).__name__}: {exc}"[:_MESSAGE_CHARS],
                      "error_type": type(exc).__name__, "traceback": traceback.format_exc()[-4000:]}
        answer["worker_s"] = time.monotonic() - start
        answers.append(answer)
        Path(argv[2]).write_text(json.dumps(answers, indent=1, sort_keys=True, default=str))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

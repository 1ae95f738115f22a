"""Record one real RETURNN beam search as a :class:`~searchgraph.search.trace.SearchTrace` (needs RETURNN).

:func:`capture_search` instruments the net dict, builds it with RETURNN in search mode in a
**subprocess** on the CPU (RETURNN switches TensorFlow to graph mode for the whole process; the
caller's process imports neither), runs it once on given or random inputs with seeded random
weights, and returns the per-frame raw values as a trace plus RETURNN's own final n-best output.

Instrumentation, per choice ``C`` of the loop (unit-local names)::

    C__sg_labels     copy(C)                    raw labels of frame t        } collocated with C, so
    C__sg_src_beams  choice_get_src_beams(C)    raw src_beams of frame t     } they stay in the loop;
    C__sg_scores     choice_get_beam_scores(C)  raw accumulated scores       } read from the accumulator
    C__sg_final      copy(C)                    RETURNN's resolved sequences (is_output_layer)
    end__sg_flags    copy(end, extra_deps=[E])  end flag in E's beam of frame t

RETURNN back-tracks every accumulated output after the loop (``_opt_search_resolve``), so the raw
per-frame values are read from the loop's accumulators (``final_acc_tas_dict``, every frame in
its own beam) rather than from the resolved layer outputs, which also stop at ``max(seq_len)``
frames: without ``include_eos`` that drops the last frame, whose ``src_beams`` the backtracking
starts from. An ``end`` layer on ``prev:E`` is copied with ``E`` as an extra dependency, so
RETURNN itself translates it into ``E``'s beam of the frame (as its frame-end ``maybe_transform``
does). A loop of known length has no end layer: RETURNN ends hypotheses at the input lengths; the
trace gets those flags, marked ``meta["end_flags_synthesized"]``.

Weights: every parameter with two or more dimensions is redrawn from a seeded normal distribution
(standard deviation ``weight_scale / sqrt(fan_in)``); biases and other vectors keep RETURNN's
initial values (zeros, ones).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SearchgraphError
from ..loading import load
from ..loading.netspec import NetSpec
from .trace import SearchTrace

__all__ = ["CaptureError", "CaptureLayout", "Hooks", "ReturnnFinal", "capture_search", "dist_version",
           "instrument", "returnn_available"]

SUFFIXES = ("__sg_labels", "__sg_src_beams", "__sg_scores", "__sg_final")
_END = "end__sg_flags"
_PKG_ROOT = Path(__file__).resolve().parents[2]
_TUPLE = "__sg_tuple__"
#: Exit status of the worker when RETURNN raised (the error is in ``error.json`` beside the output).
_RETURNN_FAILED = 3
#: The worker's line on stdout when a batch's result is written (``batchJ.npz`` beside OUT).
_BATCH_DONE = "searchgraph-capture-batch"


class CaptureError(SearchgraphError, RuntimeError):
    """RETURNN is missing, the network cannot be recorded, or RETURNN failed on it.

    ``where`` names the layer (``output/s``) where known; ``log`` holds the tail of RETURNN's
    output for a failed run (the CLI does not print it).
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None, log: str = ""):
        super().__init__(message, where=where, hint=hint)
        self.log = log


@dataclass
class CaptureLayout:
    """What :func:`instrument` found: the loop, its choices (oldest first) and its end layer."""

    rec: str
    unit_path: list[str]
    choices: list[str]
    beam_sizes: dict[str, int]
    end_choice: str | None  # the current-frame choice the end flag is recorded in
    end_layer_choice: str | None  # the end layer's own choice (may be ``rec/prev:C``)
    include_eos: bool
    length_normalization: bool  # the latest choice's (RETURNN normalises the final scores with it)
    records: list[str] = field(default_factory=list)  # recorded loop layers (unit-local names)
    target: str | None = None  # the latest choice's target (its vocabulary labels the trace)
    notes: list[str] = field(default_factory=list)  # what was changed to make the network run

    def local(self, name: str) -> str:
        """``output/choice1`` -> ``choice1``."""
        return name[len(self.rec) + 1:]


@dataclass(eq=False)
class ReturnnFinal:
    """RETURNN's own results after the loop, in the latest choice's beam (``[batch, K, ...]``).

    ``sequences``: per choice, the resolved labels ``[batch, K, T_out]`` (``T_out = max(lengths)``);
    ``output``: the rec layer's output ``[batch, K, T_out, ...]``; ``lengths``, ``scores``:
    ``[batch, K]`` (scores after RETURNN's final length normalisation); ``frames``: the number of loop
    iterations; ``inputs``: data key -> (array, lengths) fed to the network.
    """

    sequences: dict[str, np.ndarray]
    output: np.ndarray
    lengths: np.ndarray
    scores: np.ndarray
    frames: int
    inputs: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)


def returnn_available() -> bool:
    """Whether RETURNN and TensorFlow are installed for this interpreter (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in ("returnn", "tensorflow"))


# ----------------------------------------------------------------------------------------------------
# Instrumentation (pure Python)


def _unit_dict(network: dict[str, Any], rec: str) -> tuple[dict[str, Any], list[str]]:
    parts = rec.split("/")
    net, path = network, []
    for part in parts[:-1]:
        net = net[part]["subnetwork"]
        path += [part, "subnetwork"]
    unit = net[parts[-1]].get("unit")
    if not isinstance(unit, dict):
        raise CaptureError("the rec layer has no unit dict", where=rec)
    return unit, path + [parts[-1], "unit"]


def _pick_loop(loops: dict[str, str], rec: str | None, errors: Any) -> str:
    if rec is not None:
        if rec not in loops:
            raise CaptureError("not a rec layer with a search choice inside", where=rec,
                               hint=f"loops with choices: {', '.join(sorted(loops)) or 'none'}")
        return rec
    if not loops:
        first = next(iter(errors.items()), None) if isinstance(errors, Mapping) else None
        raise CaptureError("the network has no rec loop with a search choice",
                           where=first[0] if first else None,
                           hint=f"RETURNN would fail first: {first[1]}" if first else
                           "capture records a beam search inside a rec layer")
    if len(loops) > 1 and "output" not in loops:
        raise CaptureError(f"several rec loops have choices: {', '.join(sorted(loops))}",
                           hint="name the one to record (rec=...)")
    return next(iter(loops)) if len(loops) == 1 else "output"


def _missing_load_on_init(net: dict[str, Any], prefix: str, notes: list[str]) -> None:
    """Drop every ``load_on_init`` whose file is not on this machine (in place), with a note each."""
    for name, layer in net.items():
        if not isinstance(layer, dict):
            continue
        value = layer.get("load_on_init")
        path = value.get("filename") if isinstance(value, dict) else value
        if isinstance(path, str):
            exists = any(Path(path + ext).exists() for ext in ("", ".index", ".meta"))
            if not exists:
                del layer["load_on_init"]
                notes.append(f"{prefix}{name}: load_on_init {path!r} is not on this machine; "
                             "its parameters keep their initial values")
        for key in ("subnetwork", "unit"):
            if isinstance(layer.get(key), dict):
                _missing_load_on_init(layer[key], f"{prefix}{name}/", notes)


def _records(unit: dict[str, Any], rec: str, record: str | list[str] | None) -> list[str]:
    """The unit-local names of the layers to record: given, or ``auto`` (every softmax_over_spatial)."""
    if record is None:
        return []
    if record == "auto":
        return [n for n, d in unit.items() if isinstance(d, dict) and d.get("class") == "softmax_over_spatial"]
    out = []
    for name in [record] if isinstance(record, str) else record:
        local = name[len(rec) + 1:] if name.startswith(rec + "/") else name
        if local not in unit:
            raise CaptureError(f"no layer {local!r} in {rec}'s unit", where=name,
                               hint="--record names a layer of the searched loop (output/att_weights)")
        out.append(local)
    return out


def instrument(config: str | os.PathLike[str] | dict[str, Any] | NetSpec, rec: str | None = None,
               record: str | list[str] | None = None) -> tuple[NetSpec, CaptureLayout]:
    """The network with the capture layers added to ``rec``'s unit (a copy), and what was found.

    ``rec`` defaults to the only rec loop holding search choices (``output`` if there are several).
    ``record``: loop layers whose values are recorded per frame in the latest choice's beam (RETURNN
    translates them, as it does an end layer), or ``"auto"`` for every ``softmax_over_spatial``.
    A ``load_on_init`` file that is not on this machine is dropped, with a note in the layout.

    Raises
    ------
    CaptureError
        No such loop, a choice in a nested subnetwork, or names that clash with the capture layers.
    """
    from ..checks.pipeline import analyze

    spec = load(config)
    analysis = analyze(spec)  # predicted errors are left to RETURNN: it has the last word
    loops = dict(analysis.latest_choice)
    rec = _pick_loop(loops, rec, analysis.errors)
    chain = []
    for name in analysis.layers[loops[rec]].trace:
        if name.rsplit("/", 1)[-1].startswith("prev:"):
            break
        chain.append(name)
    choices = chain[::-1]
    for c in choices:
        if "/" in c[len(rec) + 1:]:
            raise CaptureError(f"the choice is not a direct member of {rec}'s unit", where=c,
                               hint="capture records choices of the loop's own unit only")
    network = copy.deepcopy(spec.network)
    unit, path = _unit_dict(network, rec)
    rec_dict = network
    for key in path[:-1]:
        rec_dict = rec_dict[key]
    latest = unit[choices[-1][len(rec) + 1:]]
    layout = CaptureLayout(rec=rec, unit_path=path, choices=choices,
                           beam_sizes={c: analysis.layers[c].beam.size for c in choices},
                           end_choice=None, end_layer_choice=None,
                           include_eos=bool(rec_dict.get("include_eos", False)),
                           length_normalization=bool(latest.get("length_normalization", True)),
                           target=latest.get("target") if isinstance(latest.get("target"), str) else None)
    _missing_load_on_init(network, "", layout.notes)
    latest_local = layout.local(choices[-1])
    for name in _records(unit, rec, record):
        if name + "__sg_rec" in unit:
            raise CaptureError("the unit already has a layer with a capture layer's name",
                               where=f"{rec}/{name}__sg_rec", hint="rename that layer")
        unit[name + "__sg_rec"] = {"class": "copy", "from": name, "extra_deps": [latest_local],
                                   "collocate_with": [latest_local], "is_output_layer": True}
        layout.records.append(name)
    for c in choices:
        loc = layout.local(c)
        clash = [loc + s for s in SUFFIXES if loc + s in unit]
        if clash:
            raise CaptureError("the unit already has a layer with a capture layer's name",
                               where=f"{rec}/{clash[0]}", hint="rename that layer")
        # collocate_with keeps a layer in the loop (RETURNN moves no layer out that is collocated with a
        # choice); is_output_layer makes RETURNN accumulate it, and we read the accumulator raw.
        stay = {"collocate_with": [loc], "is_output_layer": True}
        unit[loc + "__sg_labels"] = {"class": "copy", "from": loc, **stay}
        unit[loc + "__sg_src_beams"] = {"class": "choice_get_src_beams", "from": loc, **stay}
        unit[loc + "__sg_scores"] = {"class": "choice_get_beam_scores", "from": loc, **stay}
        unit[loc + "__sg_final"] = {"class": "copy", "from": loc, "is_output_layer": True}
    if "end" in unit:
        end_choice = analysis.layers[f"{rec}/end"].choice
        if end_choice is None:
            raise CaptureError("the end layer depends on no search choice", where=f"{rec}/end",
                               hint="RETURNN needs the end flag in the search's beam")
        layout.end_layer_choice = end_choice
        layout.end_choice = end_choice.replace("/prev:", "/")
        if layout.end_choice not in choices:
            raise CaptureError(f"the end layer's choice {end_choice} is not one of the frame's choices "
                               f"({', '.join(choices)})", where=f"{rec}/end")
        if _END in unit:
            raise CaptureError("the unit already has a layer with a capture layer's name",
                               where=f"{rec}/{_END}", hint="rename that layer")
        unit[_END] = {"class": "copy", "from": "end", "extra_deps": [layout.local(layout.end_choice)],
                      "collocate_with": ["end"], "is_output_layer": True}
    return NetSpec(**{**spec.__dict__, "network": network}), layout


# ----------------------------------------------------------------------------------------------------
# The request (JSON to the subprocess)


def _to_json(value: Any, where: str) -> Any:
    """``value`` as JSON data; tuples are tagged (RETURNN compares shapes as tuples)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        items = [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return {_TUPLE: items} if isinstance(value, tuple) else items
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CaptureError(f"the key {k!r} is not a string", where=where or None,
                                   hint="capture passes the network to RETURNN's process as JSON data")
            out[k] = _to_json(v, f"{where}/{k}" if where else k)
        return out
    raise CaptureError(f"a {type(value).__name__} value cannot be passed to RETURNN's process",
                       where=where or None,
                       hint="capture supports plain data in the network (no functions or objects)")


def _from_json(value: Any) -> Any:
    """Inverse of :func:`_to_json`."""
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {_TUPLE}:
            return tuple(_from_json(v) for v in value[_TUPLE])
        return {k: _from_json(v) for k, v in value.items()}
    return value


def _plain_settings(spec: NetSpec) -> dict[str, Any]:
    """The config settings RETURNN sees: every plain-data one (others are display-only here)."""
    out = {}
    for key, value in spec.settings.items():
        try:
            out[key] = _to_json(value, key)
        except CaptureError:
            continue
    if spec.target:
        out["target"] = spec.target
    if spec.behavior_version:
        out["behavior_version"] = spec.behavior_version
    return out


def _request(spec: NetSpec, layout: CaptureLayout, seed: int, batch: int, max_len: int,
             weight_scale: float) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if layout.records:
        extra["records"] = layout.records
    return {**extra, "network": _to_json(spec.network, ""), "extern_data": _to_json(spec.extern_data, "extern_data"),
            "num_outputs": _to_json(spec.num_outputs, "num_outputs"), "num_inputs": spec.num_inputs,
            "config": _plain_settings(spec), "rec": layout.rec,
            "choices": [layout.local(c) for c in layout.choices], "end": layout.end_choice is not None,
            "seed": int(seed), "batch": int(batch), "max_len": int(max_len),
            "weight_scale": float(weight_scale)}


def checkpoint_path(spec: NetSpec, checkpoint: str | os.PathLike[str]) -> str:
    """The TensorFlow checkpoint to load: ``checkpoint`` (a file or a checkpoint prefix), or with
    ``"config"`` the one ``rnn.py`` loads for search: the config's ``load``, else ``model`` at
    ``load_epoch`` (else ``num_epochs``), as ``MODEL.NNN``."""
    path = str(checkpoint)
    if path == "config":
        st = spec.settings
        if isinstance(st.get("load"), str):
            path = st["load"]
        elif isinstance(st.get("model"), str):
            epoch = st.get("load_epoch") or st.get("num_epochs")
            epoch = int(epoch) if isinstance(epoch, str) and epoch.strip().isdigit() else epoch
            if not isinstance(epoch, int):
                raise CaptureError("the config names no epoch to load (load_epoch, num_epochs)",
                                   where="model", hint="pass --checkpoint PATH or ++load_epoch N")
            path = f"{st['model']}.{epoch:03d}"
        else:
            raise CaptureError("the config has no `model` or `load` setting", where=spec.source,
                               hint="pass --checkpoint PATH")
    if not (Path(path).is_file() or Path(path + ".index").is_file()):
        raise CaptureError("no such checkpoint", where=path,
                           hint="a TensorFlow checkpoint prefix as RETURNN writes it (MODEL.001: "
                                "MODEL.001.index beside it)")
    return str(Path(path).resolve())


def _is_text(value: Any) -> bool:
    """A text, or a batch of texts (a list of strings)."""
    return isinstance(value, str) or (isinstance(value, list) and bool(value)
                                      and all(isinstance(x, str) for x in value))


def _input_arrays(inputs: Mapping[str, Any] | None, keys: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in (inputs or {}).items():
        if key not in keys:
            raise CaptureError("no such data key in the config", where=key,
                               hint=f"data keys: {', '.join(keys)}")
        if _is_text(value):  # text: the worker maps it through the data key's vocabulary
            continue
        if isinstance(value, Mapping):
            arr, lens = value["data"], value.get("lengths")
        elif isinstance(value, tuple):
            arr, lens = value
        else:
            arr, lens = value, None
        out[f"in__{key}"] = np.asarray(arr)
        if lens is not None:
            out[f"len__{key}"] = np.asarray(lens, np.int32)
    return out


# ----------------------------------------------------------------------------------------------------
# Running (parent side)


def dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _cache_key(request: dict[str, Any], arrays: dict[str, np.ndarray], runner: Path | None, salt: str) -> str:
    h = hashlib.sha256(json.dumps(request, sort_keys=True).encode())
    for k in sorted(arrays):
        arr = arrays[k]
        h.update(f"{k} {arr.dtype} {arr.shape}".encode() + arr.tobytes())
    h.update(Path(__file__).read_bytes())
    if runner is not None:
        h.update(runner.read_bytes())
    h.update(f"{salt} returnn={dist_version('returnn')} tf={dist_version('tensorflow-cpu', 'tensorflow')} "
             f"py={sys.version_info[:2]}".encode())
    return h.hexdigest()[:32]


def _run_worker(request: dict[str, Any], arrays: dict[str, np.ndarray], runner: Path | None,
                timeout: float, on_batch: Callable[[int, bytes], None] | None = None) -> bytes:
    with tempfile.TemporaryDirectory(prefix="searchgraph-capture-") as tmp:
        req_path, out_path = Path(tmp, "request.json"), Path(tmp, "out.npz")
        req_path.write_text(json.dumps(request))
        if arrays:
            np.savez(Path(tmp, "inputs.npz"), **arrays)
        cmd = [sys.executable] + ([str(runner)] if runner else ["-m", "searchgraph.search.returnn"])
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PKG_ROOT), env.get("PYTHONPATH")) if p)
        try:
            if on_batch is None:
                proc = subprocess.run(cmd + [str(req_path), str(out_path)], check=False, capture_output=True,
                                      text=True, env=env, timeout=timeout)
            else:
                proc = _streamed(cmd + [str(req_path), str(out_path)], env, timeout, Path(tmp), on_batch)
        except subprocess.TimeoutExpired:
            raise CaptureError(f"RETURNN's search did not finish within {timeout:.0f} s",
                               where=request["rec"],
                               hint="try a smaller batch or max_len") from None
        log = (proc.stdout + proc.stderr)[-6000:]
        err_path = out_path.with_name("error.json")
        if proc.returncode == _RETURNN_FAILED and err_path.exists():
            err = json.loads(err_path.read_text())
            raise CaptureError(f"RETURNN failed: {err['type']}: {err['message']}",
                               where=err.get("layer") or request["rec"],
                               hint="`searchgraph diagnose CONFIG` predicts search-mode errors; "
                                    "SEARCHGRAPH_DEBUG=1 shows RETURNN's log", log=log)
        if proc.returncode != 0 or not out_path.exists():
            last = next((ln for ln in reversed(log.strip().splitlines()) if ln.strip()), "no output")
            raise CaptureError(f"RETURNN's process failed (exit status {proc.returncode}): {last[:300]}",
                               where=request["rec"], hint="re-run with SEARCHGRAPH_DEBUG=1 for RETURNN's log",
                               log=log)
        return out_path.read_bytes()


def _streamed(cmd: list[str], env: dict[str, str], timeout: float, tmp: Path,
              on_batch: Callable[[int, bytes], None]) -> subprocess.CompletedProcess[str]:
    """Run the worker, handing each batch's result to ``on_batch`` as the worker reports it."""
    import threading

    with open(tmp / "stderr.txt", "w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        out: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(_BATCH_DONE + " "):
                    j = int(line.split()[1])
                    on_batch(j, (tmp / f"batch{j}.npz").read_bytes())
                    (tmp / f"batch{j}.npz").unlink()
                else:
                    out.append(line)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if fired.is_set():
            raise subprocess.TimeoutExpired(cmd, timeout)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, "".join(out), err.read())


def capture_search(config: str | os.PathLike[str] | dict[str, Any] | NetSpec,
                   inputs: Mapping[str, Any] | None = None, seed: int = 0, batch: int = 2, max_len: int = 6,
                   *, weight_scale: float = 1.0, rec: str | None = None,
                   runner: str | os.PathLike[str] | None = None,
                   cache_dir: str | os.PathLike[str] | None = None, cache_salt: str = "",
                   timeout: float = 600.0, checkpoint: str | os.PathLike[str] | None = None,
                   record: str | list[str] | None = None, dataset: str | None = None,
                   seqs: list[int] | None = None) -> tuple[SearchTrace, ReturnnFinal]:
    """Run RETURNN's beam search on ``config`` once and record it.

    Parameters
    ----------
    config : a network (path, dict or NetSpec; see :func:`searchgraph.load`).
    inputs : data key -> array (batch-major, as RETURNN's placeholder), ``(array, lengths)`` or
        ``{"data": array, "lengths": lengths}``. Keys not given are random (seeded with ``seed``):
        ``batch`` sequences of different lengths up to ``max_len``; sparse data uniform over the
        vocabulary, dense data standard normal.
    seed : seeds the inputs and the weights.
    weight_scale : larger scales give peakier label distributions (see the module docstring).
    rec : the rec layer to record (default: the only loop with choices, else ``output``).
    runner : a script run as ``python RUNNER REQUEST.json OUT.npz`` instead of
        ``python -m searchgraph.search.returnn`` (e.g. one that prepares corpus networks, see :class:`Hooks`).
    cache_dir : reuse results stored there under a hash of the request, the inputs, this module's
        and the runner's source, ``cache_salt`` and the RETURNN / TensorFlow versions.
    checkpoint : load these trained weights as RETURNN does (a checkpoint prefix such as
        ``model.001``, or ``"config"``: the one the config's ``model`` / ``load`` settings name)
        instead of drawing random ones. An input given as a string is text, mapped to label ids
        through that data key's vocabulary (RETURNN's ``Vocabulary.get_seq``); a list of strings is a
        batch of texts.
    record : loop layers whose values are recorded per frame and hypothesis (``trace.records``), or
        ``"auto"`` (every ``softmax_over_spatial`` of the loop).
    dataset, seqs : search these sequences (indices, default ``0..batch-1``) of the config's dataset
        ``dataset`` (``search_data``, ``dev``, ...), in one batch, as RETURNN loads them.

    Returns
    -------
    (SearchTrace, ReturnnFinal) : the raw per-frame values (choice names are RETURNN's absolute
        names, ``output/choice1``; ``final_lengths`` / ``final_scores`` and, in
        ``meta["returnn_sequences"]``, the resolved label sequences are RETURNN's), and RETURNN's
        own resolved output.

    Raises
    ------
    CaptureError : RETURNN is not installed, the network cannot be recorded, or RETURNN failed on it
        (``where`` names the layer; ``log`` holds RETURNN's output).
    """
    if runner is None and not returnn_available():
        raise CaptureError("RETURNN and TensorFlow are needed to capture a search",
                           hint="pip install 'searchgraph[test]' (or pip install returnn tensorflow-cpu)")
    spec, layout, request, arrays = _prepare(config, inputs, seed, batch, max_len, weight_scale, rec, checkpoint,
                                             record, dataset, seqs)
    runner_path = Path(runner).resolve() if runner is not None else None
    blob = None
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir, _cache_key(request, arrays, runner_path, cache_salt) + ".npz")
        if cache_file.exists():
            blob = cache_file.read_bytes()
    if blob is None:
        blob = _run_worker(request, arrays, runner_path, timeout)
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".tmp-", suffix=".npz")
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.chmod(tmp, 0o644)
            os.replace(tmp, cache_file)
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        result = {k: data[k] for k in data.files}
    return _assemble(spec, layout, result)


def capture_batches(config: str | os.PathLike[str] | dict[str, Any] | NetSpec, dataset: str,
                    batches: list[list[int]], on_batch: Callable[[int, SearchTrace, ReturnnFinal], None], *,
                    checkpoint: str | os.PathLike[str] | None = None, record: str | list[str] | None = None,
                    rec: str | None = None, seed: int = 0, weight_scale: float = 1.0,
                    timeout: float = 3600.0) -> None:
    """Search several batches of ``dataset``'s sequences in **one** RETURNN process (the network is
    built and the checkpoint loaded once); ``on_batch(j, trace, final)`` gets batch ``j`` as soon as
    it is searched. Otherwise as :func:`capture_search` with ``dataset`` and ``seqs=batches[j]``."""
    if not returnn_available():
        raise CaptureError("RETURNN and TensorFlow are needed to capture a search",
                           hint="pip install 'searchgraph[test]' (or pip install returnn tensorflow-cpu)")
    spec, layout, request, arrays = _prepare(config, None, seed, len(batches[0]), 6, weight_scale, rec,
                                             checkpoint, record, dataset, batches[0])
    request["dataset"]["batches"] = [[int(i) for i in b] for b in batches]

    def done(j: int, blob: bytes) -> None:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            on_batch(j, *_assemble(spec, layout, {k: data[k] for k in data.files}))

    _run_worker(request, arrays, None, timeout, on_batch=done)


def _prepare(config: Any, inputs: Mapping[str, Any] | None, seed: int, batch: int, max_len: int,
             weight_scale: float, rec: str | None, checkpoint: Any, record: Any, dataset: str | None,
             seqs: list[int] | None) -> tuple[NetSpec, CaptureLayout, dict[str, Any], dict[str, np.ndarray]]:
    """The instrumented network, the worker's request and the input arrays of one capture."""
    spec, layout = instrument(config, rec, record)
    request = _request(spec, layout, seed, batch, max_len, weight_scale)
    arrays = _input_arrays(inputs, spec.data_keys())
    texts = {k: v for k, v in (inputs or {}).items() if _is_text(v)}
    if texts:
        request["texts"] = texts
    if checkpoint is not None:
        request["checkpoint"] = checkpoint_path(spec, checkpoint)
    if dataset is not None:
        opts = spec.settings.get(dataset)
        if not isinstance(opts, (dict, str)):
            raise CaptureError(f"the config has no dataset {dataset!r}", where=dataset,
                               hint="name a dataset setting of the config (search_data, dev, eval)")
        try:
            opts = _to_json(opts, dataset)
        except CaptureError as exc:
            raise CaptureError(f"the dataset {dataset!r} is not plain data: {exc}", where=dataset,
                               hint="load the config with --trust (RETURNN's own loader)") from None
        request["dataset"] = {"name": dataset, "opts": opts,
                              "seqs": [int(i) for i in (seqs if seqs is not None else range(batch))]}
    return spec, layout, request, arrays


def _assemble(spec: NetSpec, layout: CaptureLayout, res: dict[str, np.ndarray]
              ) -> tuple[SearchTrace, ReturnnFinal]:
    meta = json.loads(str(res["meta_json"]))
    n_batch, frames = meta["batch"], meta["frames"]
    k_last = layout.beam_sizes[layout.choices[-1]]

    def per_frame(arr: np.ndarray, k: int) -> np.ndarray:
        return arr.reshape(frames, n_batch, k)

    def n_best(arr: np.ndarray) -> np.ndarray:  # [T, B*K, ...] -> [B, K, T, ...]
        arr = arr.reshape((arr.shape[0], n_batch, k_last) + arr.shape[2:])
        return np.ascontiguousarray(np.moveaxis(arr, 0, 2))

    labels, src_beams, scores, sequences = {}, {}, {}, {}
    for i, c in enumerate(layout.choices):
        k = layout.beam_sizes[c]
        labels[c] = per_frame(res[f"labels__{i}"], k)
        src_beams[c] = per_frame(res[f"src_beams__{i}"], k)
        scores[c] = per_frame(res[f"scores__{i}"], k)
        if not np.array_equal(src_beams[c], res[f"choice_ta__{i}"]):
            raise CaptureError("choice_get_src_beams differs from RETURNN's own choice accumulator", where=c)
        sequences[c] = n_best(res[f"final__{i}"])
    lengths = res["lengths"]
    if lengths.size == n_batch and k_last > 1:
        lengths = np.repeat(lengths, k_last)
    lengths = lengths.reshape(n_batch, k_last)
    inputs = {key: (res[f"input__{key}"], res.get(f"input_len__{key}")) for key in meta["inputs"]}
    end_choice, end_flags, synthesized = layout.end_choice, None, False
    if end_choice is not None:
        end_flags = per_frame(res["end_flags"], layout.beam_sizes[end_choice]).astype(bool)
    else:  # known length: RETURNN ends hypothesis b after frame len[b] - 1 (get_prev_end_flag)
        seq_lens = lengths[:, 0]
        t = np.arange(frames)[:, None]
        flags = t >= (seq_lens[None, :] - 1 if layout.include_eos else seq_lens[None, :])
        end_choice, synthesized = layout.choices[-1], True
        end_flags = np.repeat(flags[:, :, None], k_last, axis=2)
    trace_meta = {"source": spec.source, "seed": meta["seed"], "batch": n_batch, "max_len": meta["max_len"],
                  "weight_scale": meta["weight_scale"], "length_normalization": layout.length_normalization,
                  "end_layer_choice": layout.end_layer_choice, "end_flags_synthesized": synthesized,
                  "input_lengths": {k: (None if v[1] is None else v[1].tolist()) for k, v in inputs.items()},
                  "returnn_sequences": {c: s.tolist() for c, s in sequences.items()},
                  "returnn": meta.get("returnn"), "tensorflow": meta.get("tensorflow")}
    for key in ("checkpoint", "seq_tags", "seqs", "dataset", "vocabs", "texts"):
        if meta.get(key) is not None:
            trace_meta[key] = meta[key]
    if layout.target is not None:
        trace_meta["target"] = layout.target
    sparse_inputs = {k: v[0].tolist() for k, v in inputs.items() if v[0].dtype.kind in "iu" and v[0].ndim == 2}
    if sparse_inputs:
        trace_meta["inputs_labels"] = sparse_inputs
    if layout.notes:
        trace_meta["notes"] = layout.notes
    records = {}
    for i, name in enumerate(layout.records):
        arr = res[f"record__{i}"]  # [T, B*K, ...] in the latest choice's beam of each frame
        records[f"{layout.rec}/{name}"] = arr.reshape((frames, n_batch, k_last) + arr.shape[2:])
    trace = SearchTrace.from_arrays(layout.rec, layout.choices, labels, src_beams, scores,
                                    beam_sizes=layout.beam_sizes, end_flags=end_flags, end_choice=end_choice,
                                    include_eos=layout.include_eos, final_lengths=lengths,
                                    final_scores=res["final_scores"].reshape(n_batch, k_last),
                                    meta=trace_meta, records=records)
    final = ReturnnFinal(sequences=sequences, output=n_best(res["output"]), lengths=trace.final_lengths,
                         scores=trace.final_scores, frames=frames, inputs=inputs)
    return trace, final


# ----------------------------------------------------------------------------------------------------
# The subprocess side (imports TensorFlow and RETURNN)


@dataclass
class Hooks:
    """Network preparation a runner script can plug in (see ``tests/oracle/capture_runner.py``)."""

    setup: Callable[[], None] | None = None
    prepare_network: Callable[[Any], Any] | None = None
    make_dims: Callable[[Any, dict[str, Any]], Any] | None = None
    prepare_extern_data: Callable[[Any, dict[str, Any]], Any] | None = None


def _random_lengths(rnd: np.random.RandomState, batch: int, max_len: int) -> np.ndarray:
    """``batch`` different lengths (as far as ``max_len`` allows), the longest ``max_len``, shuffled."""
    lens = np.maximum(1, max_len - np.arange(batch)).astype(np.int32)
    rnd.shuffle(lens)
    return lens


def _feed_inputs(ext: Any, request: dict[str, Any], given: dict[str, np.ndarray],
                 rnd: np.random.RandomState) -> tuple[dict[Any, np.ndarray], dict[str, np.ndarray], int]:
    """The feed dict for every extern data placeholder: given arrays, else random ones."""
    batch = request["batch"]
    for key in given:
        if key.startswith("in__"):
            batch = given[key].shape[ext.data[key[4:]].batch_dim_axis]
    feed: dict[Any, np.ndarray] = {}
    lens_of: dict[str, np.ndarray] = {}  # size placeholder name -> lengths (shared dim tags)
    record: dict[str, np.ndarray] = {}
    for key in sorted(ext.data):
        data = ext.data[key]
        if data.placeholder is None:
            continue
        arr = given.get(f"in__{key}")
        shape, first_len = [], None
        for axis, tag in enumerate(data.dim_tags):
            if axis == data.batch_dim_axis:
                shape.append(batch)
            elif tag.dimension is not None:
                shape.append(tag.dimension)
            else:
                size = data.size_placeholder[data.get_batch_axis_excluding_batch(axis)]
                if arr is not None:
                    lens = given.get(f"len__{key}") if first_len is None else None
                    lens = np.full(batch, arr.shape[axis], np.int32) if lens is None else lens
                else:
                    lens = lens_of.get(size.name)
                    if lens is None:
                        lens = _random_lengths(rnd, batch, request["max_len"])
                lens_of[size.name] = lens
                feed[size] = lens
                first_len = lens if first_len is None else first_len
                shape.append(int(lens.max()))
        if arr is None and data.dtype == "string":  # e.g. orthography / seq tags: NumPy has no 'string'
            arr = np.full(shape, "x", dtype=object)
        if data.dtype == "string":
            feed[data.placeholder] = np.asarray(arr, dtype=object)
            continue
        if arr is None:
            if data.sparse or data.dtype.startswith("int"):
                arr = rnd.randint(0, data.dim or 2, size=shape)
            elif data.dtype == "bool":
                arr = rnd.rand(*shape) < 0.5
            else:
                arr = rnd.normal(size=shape)
        arr = np.asarray(arr).astype(data.dtype)
        feed[data.placeholder] = arr
        record[f"input__{key}"] = arr
        if first_len is not None:
            record[f"input_len__{key}"] = np.asarray(first_len, np.int32)
    bdim = ext.get_batch_info().dim
    if hasattr(bdim, "op") and bdim.op.type == "Placeholder":
        feed[bdim] = batch
    return feed, record, batch


#: The feed for every extern data placeholder (given arrays, else random ones); also the verifier's.
feed_inputs = _feed_inputs


def _vocabs(ext: Any) -> dict[str, dict[str, Any]]:
    """Per sparse data key with a vocabulary: its labels and RETURNN's class (how it joins them)."""
    out = {}
    for key, data in sorted(ext.data.items()):
        vocab = getattr(data, "vocab", None) if data.sparse else None
        if vocab is None:
            continue
        labels = vocab.labels
        out[key] = {"labels": [str(x) for x in labels], "class": type(vocab).__name__,
                    "unknown_label": getattr(vocab, "unknown_label", None)}
    return out


def _real_inputs(ext: Any, request: dict[str, Any], meta: dict[str, Any], seqs: list[int] | None = None,
                 datasets: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Arrays (``in__KEY``, ``len__KEY``) of the texts and dataset sequences (``seqs``, default the
    request's) the request names; ``datasets`` keeps the RETURNN dataset between batches."""
    out: dict[str, np.ndarray] = {}
    for key, text in (request.get("texts") or {}).items():
        vocab = getattr(ext.data[key], "vocab", None)
        if vocab is None:
            raise RuntimeError(f"data key {key!r} has no vocabulary to map the text {text!r} to label ids")
        texts = [text] if isinstance(text, str) else list(text)
        seqs = [np.asarray(vocab.get_seq(t), np.int32) for t in texts]
        lens = np.array([len(x) for x in seqs], np.int32)
        arr = np.zeros((len(seqs), int(lens.max())), np.int32)
        for i, x in enumerate(seqs):
            arr[i, :len(x)] = x
        out[f"in__{key}"], out[f"len__{key}"] = arr, lens
        meta.setdefault("texts", {})[key] = texts
    ds_req = request.get("dataset")
    if ds_req:
        from returnn.datasets import init_dataset

        opts = ds_req["opts"]
        if isinstance(opts, dict) and opts.get("class") == "StaticDataset":  # JSON gave lists
            opts = {**opts, "data": [{k: np.asarray(v, np.int32 if ext.data[k].sparse else np.float32)
                                      for k, v in seq.items()} for seq in opts["data"]]}
        dataset = (datasets or {}).get("dataset")
        if dataset is None:
            dataset = init_dataset(opts)
            dataset.init_seq_order(epoch=1)
            if datasets is not None:
                datasets["dataset"] = dataset
        seqs = ds_req["seqs"] if seqs is None else seqs
        dataset.load_seqs(min(seqs), max(seqs) + 1)
        for key, data in ext.data.items():
            if data.placeholder is None or key not in dataset.get_data_keys() or not data.available_for_inference:
                continue
            values = [np.asarray(dataset.get_data(i, key)) for i in seqs]
            lens = np.array([len(v) for v in values], np.int32)
            arr = np.zeros((len(values), int(lens.max())) + values[0].shape[1:], values[0].dtype)
            for i, v in enumerate(values):
                arr[i, :len(v)] = v
            out[f"in__{key}"], out[f"len__{key}"] = arr, lens
        meta["dataset"], meta["seqs"] = ds_req["name"], seqs
        meta["seq_tags"] = [str(dataset.get_tag(i)) for i in seqs]
    return out


def run_request(request: dict[str, Any], given: dict[str, np.ndarray], hooks: Hooks,
                on_batch: Callable[[int, dict[str, np.ndarray], dict[str, Any]], None] | None = None
                ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Build the instrumented network with RETURNN (search mode), run it once, return the raw arrays.

    With ``request["dataset"]["batches"]`` (lists of sequence indices), the network is built once and
    run once per batch; ``on_batch(j, arrays, meta)`` gets each batch's result as it finishes.
    """
    if hooks.setup is not None:
        hooks.setup()
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    import returnn
    from returnn.config import Config
    from returnn.tf.network import ExternData, TFNetwork
    from returnn.util.basic import BehaviorVersion

    dims: dict[str, Any] = {}
    request = _from_json(request)
    network = copy.deepcopy(request["network"])
    if hooks.make_dims is not None:
        network = hooks.make_dims(network, dims)
    if hooks.prepare_network is not None:
        network = hooks.prepare_network(network)
    extern_data = request.get("extern_data")
    if hooks.prepare_extern_data is not None:
        extern_data = hooks.prepare_extern_data(extern_data, dims)
    settings: dict[str, Any] = {k: request[k] for k in ("num_outputs", "num_inputs")
                                if request.get(k) is not None}
    if extern_data is not None:
        settings["extern_data"] = extern_data
    settings.update(request.get("config") or {})
    BehaviorVersion._behavior_version = None
    if settings.get("behavior_version") is not None:
        BehaviorVersion.set(settings["behavior_version"])
    rec, choices = request["rec"], request["choices"]
    rnd = np.random.RandomState(request["seed"])
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(request["seed"])
        config = Config()
        config.update(settings)
        ext = ExternData()
        ext.init_from_config(config, auto_create_placeholders=True)
        net = TFNetwork(config=config, extern_data=ext, search_flag=True, train_flag=False, eval_flag=False)
        net.construct_from_dict(network)
        rec_layer = net.get_layer(rec)
        accs = rec_layer.cell.final_acc_tas_dict

        def raw(name: str) -> Any:  # every frame of an accumulated in-loop layer (not cut to max(seq_len))
            key = f"output_{name}"
            if key not in accs:
                raise RuntimeError(f"{rec}/{name} was not accumulated in the loop (moved out?)")
            return accs[key].stack()

        def n_best(layer: Any) -> Any:
            return layer.output.copy_as_time_batch_major().placeholder

        fetches: dict[str, Any] = {"frames": accs[f"choice_{choices[0]}"].size()}
        for i, c in enumerate(choices):
            fetches[f"labels__{i}"] = raw(c + "__sg_labels")
            fetches[f"src_beams__{i}"] = raw(c + "__sg_src_beams")
            fetches[f"scores__{i}"] = raw(c + "__sg_scores")
            fetches[f"choice_ta__{i}"] = accs[f"choice_{c}"].stack()
            fetches[f"final__{i}"] = n_best(net.get_layer(f"{rec}/{c}__sg_final"))
        if request["end"]:
            fetches["end_flags"] = raw(_END)
        for i, name in enumerate(request.get("records") or []):
            fetches[f"record__{i}"] = raw(name + "__sg_rec")
        fetches["output"] = n_best(rec_layer)
        fetches["lengths"] = rec_layer.output.get_sequence_lengths()
        fetches["final_scores"] = rec_layer.get_search_choices().beam_scores
        extra_meta: dict[str, Any] = {"vocabs": _vocabs(ext) or None}
        batches = (request.get("dataset") or {}).get("batches") or [None]
        datasets: dict[str, Any] = {}

        def feed_for(seqs: list[int] | None) -> tuple[Any, ...]:
            meta_j = dict(extra_meta)
            given_j = {**given, **_real_inputs(ext, request, meta_j, seqs, datasets)}
            return (*_feed_inputs(ext, request, given_j, rnd), meta_j)

        first = feed_for(batches[0])  # random inputs are drawn before the random weights
        with tf.compat.v1.Session(graph=graph, config=tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            if request.get("checkpoint"):  # the trained weights, as rnn.py loads them
                net.load_params_from_file(request["checkpoint"], session=session)
                extra_meta["checkpoint"] = request["checkpoint"]
            for param in sorted(net.get_params_list(), key=lambda p: p.name):
                if request.get("checkpoint"):
                    break
                shape = param.shape.as_list()
                if len(shape) < 2:  # biases, scales: RETURNN's initial values
                    continue
                std = request["weight_scale"] / np.sqrt(int(np.prod(shape[:-1])))
                value = (rnd.normal(size=shape) * std).astype(param.dtype.base_dtype.name)
                param.load(value, session=session)
            for j, seqs in enumerate(batches):
                feed, record, batch, meta_j = first if j == 0 else feed_for(seqs)
                values = session.run(fetches, feed_dict=feed)
                frames = int(values.pop("frames"))
                arrays = {k: np.asarray(v) for k, v in values.items()}
                arrays.update(record)
                meta = {"batch": int(batch), "frames": frames, "seed": request["seed"],
                        "max_len": request["max_len"], "weight_scale": request["weight_scale"],
                        "inputs": sorted(k[len("input__"):] for k in record if k.startswith("input__")),
                        "returnn": returnn.__version__, "tensorflow": tf.__version__,
                        **meta_j, **({"checkpoint": request["checkpoint"]} if request.get("checkpoint") else {})}
                if on_batch is not None:
                    on_batch(j, arrays, meta)
    BehaviorVersion._behavior_version = None
    return arrays, meta


def _failing_layer(exc: BaseException) -> str | None:
    """The innermost layer RETURNN was constructing when ``exc`` was raised (best effort)."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        frame = tb.tb_frame
        name = frame.f_locals.get("name")
        if frame.f_code.co_name in ("_create_layer", "construct_layer") and isinstance(name, str):
            net = frame.f_locals.get("self")
            try:
                found = net.get_absolute_name_prefix() + name
            except Exception:  # noqa: BLE001 - only a hint for the message
                found = name
        tb = tb.tb_next
    return found


def main(argv: list[str], hooks: Hooks | None = None) -> int:
    """``python -m searchgraph.search.returnn REQUEST.json OUT.npz`` (``inputs.npz`` beside REQUEST).

    Exit status 3 with ``error.json`` beside OUT when RETURNN raised (its traceback goes to stderr).
    """
    if len(argv) != 3:
        print(main.__doc__, file=sys.stderr)
        return 2
    hooks = hooks or Hooks()
    req_path, out_path = Path(argv[1]), Path(argv[2])
    request = json.loads(req_path.read_text())
    in_path = req_path.with_name("inputs.npz")
    given: dict[str, np.ndarray] = {}
    if in_path.exists():
        with np.load(in_path, allow_pickle=False) as data:
            given = {k: data[k] for k in data.files}
    def on_batch(j: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        arrays = {**arrays, "meta_json": np.array(json.dumps(meta))}
        np.savez(out_path.with_name(f".batch{j}.npz"), **arrays)
        os.replace(out_path.with_name(f".batch{j}.npz"), out_path.with_name(f"batch{j}.npz"))
        print(f"{_BATCH_DONE} {j}", flush=True)

    batched = bool((request.get("dataset") or {}).get("batches"))
    try:
        arrays, meta = run_request(request, given, hooks, on_batch if batched else None)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent as a message
        import traceback

        traceback.print_exc()
        message = (str(exc).strip().splitlines() or [""])[0][:500]
        if not message:  # a bare assert: its source line says what failed
            entries = traceback.extract_tb(exc.__traceback__)
            message = f"{entries[-1].line} ({Path(entries[-1].filename).name}:{entries[-1].lineno})" \
                if entries else "(no message)"
        out_path.with_name("error.json").write_text(json.dumps(
            {"type": type(exc).__name__, "message": message, "layer": _failing_layer(exc)}))
        return _RETURNN_FAILED
    arrays["meta_json"] = np.array(json.dumps(meta))
    np.savez_compressed(out_path, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

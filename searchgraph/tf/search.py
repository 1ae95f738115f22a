"""A planned beam search for plain TensorFlow code: RETURNN's search semantics outside RETURNN.

Describe one decoding step as a step graph (:mod:`searchgraph.search.stepgraph`): nodes that are Python
callables on tensors, ``choice`` nodes, ``prev:`` state, an ``end`` node and outside inputs.
:class:`BeamSearch` analyses it once with searchgraph's provenance and translation plans, then runs
the loop in a :func:`tf.function` (one :func:`tf.while_loop`):

* every node's inputs are brought into its beam as the plan says (keep / tile / one gather through
  the composed ``src_beams`` of the choices in between);
* every choice does what RETURNN's ``ChoiceLayer`` does in search (``returnn-search-semantics.md``
  §2.4): scores in log space, the first frame extends only hypothesis 0, ended hypotheses continue
  with label 0 at an unchanged score, length normalisation multiplies the scores of ended
  hypotheses by ``((t+1)/t)^exponent``, then ``top_k`` over the flattened ``beam_in x vocab``
  (padded with label 0 / ``-inf`` if that is smaller than the beam);
* at the end of a frame, values read as ``prev:`` next frame are re-selected into the frame's
  current beam (§4.6); the end flag is OR-ed with the previous one;
* the loop stops when every hypothesis has ended or at ``max_len``; the n-best lists come from
  :func:`searchgraph.tf.backtrack.backtrack_tensors` and the final scores are length-normalised
  as RETURNN does (divided by the longest length in the batch, +1 without ``include_eos``).

Results equal RETURNN's own search on the same network (see ``tests/oracle/test_search_oracle.py``).
Runs where the inputs are (CPU or GPU); :meth:`BeamSearch.distributed` shards the batch over the
replicas of a :class:`tf.distribute.MirroredStrategy` with results equal to the single-device run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from ..analysis.plan import InputPlan
from ..search.stepgraph import REC, ChoiceProgram, StepGraphError, StepProgram, compile_step
from .backtrack import backtrack_tensors
from .beams import compose_src_beams, select_src_beams, tile_to_beam

__all__ = ["BeamSearch", "SearchResult", "StepGraphError", "beam_search"]


@dataclass
class SearchResult:
    """The n-best lists of a search, in the beam of the frame's last choice.

    Attributes
    ----------
    sequences : choice name -> ``[batch, beam, T]`` int32 labels (label 0 after the end).
    lengths : ``[batch, beam]`` int32 (the end frame excluded unless ``include_eos``).
    scores : ``[batch, beam]`` float32, best first; length-normalised if the last choice is.
    frames : the number of frames the loop ran (``T``).
    choices : the choices of a frame, oldest first.
    shard_frames : after :meth:`BeamSearch.distributed`, the frames each replica ran.
    """

    sequences: dict[str, tf.Tensor]
    lengths: tf.Tensor
    scores: tf.Tensor
    frames: tf.Tensor
    choices: list[str]
    shard_frames: list[int] | None = None

    def numpy(self) -> dict[str, Any]:
        """Everything as NumPy arrays: ``{"sequences": {...}, "lengths", "scores", "frames"}``."""
        return {"sequences": {c: np.asarray(s) for c, s in self.sequences.items()},
                "lengths": np.asarray(self.lengths), "scores": np.asarray(self.scores),
                "frames": int(self.frames)}

    def nbest(self, batch_index: int, choice: str | None = None) -> list[tuple[list[int], float]]:
        """``[(labels up to the length, score), ...]`` of one batch entry, best first."""
        choice = choice or self.choices[-1]
        seqs = np.asarray(self.sequences[choice])[batch_index]
        lens = np.asarray(self.lengths)[batch_index]
        scores = np.asarray(self.scores)[batch_index]
        return [(seqs[k, : lens[k]].tolist(), float(scores[k])) for k in range(seqs.shape[0])]


def _device_scope(values: Sequence[Any]) -> contextlib.AbstractContextManager:
    for v in values:
        dev = getattr(v, "device", "")
        if tf.executing_eagerly() and isinstance(v, tf.Tensor) and dev:
            return tf.device(dev)
    return contextlib.nullcontext()


class BeamSearch:
    """A compiled step graph, ready to search (see the module docstring).

    Parameters
    ----------
    step : the step graph (:mod:`searchgraph.search.stepgraph`).
    inputs : names of the outside inputs (referenced as ``base:<name>``); each is ``[batch, ...]``.
    max_len : default frame limit (may be given per call).
    include_eos : RETURNN's ``include_eos``: the end frame counts into the length.
    jit_compile : compile the loop with XLA (fixed-size per-frame arrays, one compilation per
        ``max_len``; the backtracking runs outside XLA).

    Examples
    --------
    >>> table = tf.math.log_softmax(tf.random.stateless_normal([4, 5], seed=[1, 2]))
    >>> step = {"logp": {"fn": lambda y: tf.gather(table, y), "from": ["prev:output"]},
    ...         "output": {"class": "choice", "from": "logp", "beam_size": 3},
    ...         "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]}}
    >>> result = BeamSearch(step, max_len=6)(batch_size=2)
    >>> result.sequences["output"].shape[:2]
    TensorShape([2, 3])
    """

    def __init__(self, step: Mapping[str, Mapping[str, Any]], *, inputs: Sequence[str] = (),
                 max_len: int | None = None, include_eos: bool = False, jit_compile: bool | None = None):
        self.program: StepProgram = compile_step(step, inputs)
        self.max_len = max_len
        self.include_eos = bool(include_eos)
        self._jit = jit_compile
        self._fn = tf.function(self._search, reduce_retracing=True, autograph=False)
        self._finish_fn = tf.function(self._finish_normalized, reduce_retracing=True, autograph=False)
        self._jit_loops: dict[int, Any] = {}
        self._replicated: dict[int, Any] = {}

    # -- public ------------------------------------------------------------------------------------

    def __call__(self, inputs: Mapping[str, Any] | None = None, *, batch_size: int | None = None,
                 max_len: int | None = None) -> SearchResult:
        """Search a batch: ``inputs`` maps each outside input name to a ``[batch, ...]`` tensor."""
        tensors, batch, limit = self._prepare(inputs, batch_size, max_len)
        with _device_scope(list(tensors.values())):
            if self._jit:
                out = self._jit_search(tensors, batch, int(limit))
            else:
                out = self._fn(tensors, tf.constant(batch, tf.int32), limit)
        return self._result(out)

    def _jit_search(self, tensors: dict[str, tf.Tensor], batch: int, limit: int) -> tuple[Any, ...]:
        """XLA: the loop compiled with fixed-size arrays (one compilation per ``max_len``), the
        backtracking (dynamic number of frames) outside XLA."""
        loop = self._jit_loops.get(limit)
        if loop is None:
            @tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
            def loop(inputs: dict[str, tf.Tensor], batch: tf.Tensor) -> Any:
                return self._loop(inputs, batch, tf.constant(limit, tf.int32), limit)
            self._jit_loops[limit] = loop
        return self._finish_fn(loop(tensors, tf.constant(batch, tf.int32)))

    def distributed(self, strategy: tf.distribute.Strategy, inputs: Mapping[str, Any] | None = None, *,
                    batch_size: int | None = None, max_len: int | None = None) -> SearchResult:
        """Search a batch sharded over ``strategy``'s replicas (contiguous slices of the batch).

        Each replica searches its slice on its own device; the results are put back together as
        the single-device search gives them: a replica that stopped early is extended by the
        frames the longest one ran (ended hypotheses only continue with label 0, their scores
        scaled by length normalisation as in the loop), and the final length normalisation uses
        the whole batch's longest length, as RETURNN does.
        """
        tensors, batch, limit = self._prepare(inputs, batch_size, max_len)
        n = strategy.num_replicas_in_sync
        if batch < n:
            raise ValueError(f"batch size {batch} is smaller than the {n} replicas")
        bounds = [batch * i // n for i in range(n + 1)]

        def value_fn(ctx: tf.distribute.InputContext) -> dict[str, Any]:
            i = ctx.replica_id_in_sync_group
            lo, hi = bounds[i], bounds[i + 1]
            return {"inputs": {k: v[lo:hi] for k, v in tensors.items()},
                    "batch": tf.constant(hi - lo, tf.int32)}

        dist = strategy.experimental_distribute_values_from_function(value_fn)
        run = self._replicated.get(id(strategy))
        if run is None:
            @tf.function(autograph=False)
            def run(d: Any, limit: tf.Tensor) -> Any:
                return strategy.run(lambda x: self._search_raw(x["inputs"], x["batch"], limit), args=(d,))
            self._replicated[id(strategy)] = run
        per = run(dist, limit)
        parts = [strategy.experimental_local_results(x) for x in per]
        shards = list(zip(*parts))  # per replica: (sequences..., lengths, scores, frames)
        return self._merge(shards)

    # -- input handling ----------------------------------------------------------------------------

    def _prepare(self, inputs: Mapping[str, Any] | None, batch_size: int | None,
                 max_len: int | None) -> tuple[dict[str, tf.Tensor], int, tf.Tensor]:
        inputs = dict(inputs or {})
        names = self.program.inputs
        missing = [n for n in names if n not in inputs]
        extra = [n for n in inputs if n not in names]
        if missing or extra:
            raise StepGraphError(f"outside inputs: missing {missing}, unknown {extra}", where=REC,
                                 hint=f"give exactly {list(names)}")
        tensors = {n: tf.convert_to_tensor(inputs[n]) for n in names}
        batch = batch_size
        for n, t in tensors.items():
            if t.shape.rank == 0:
                raise StepGraphError(f"outside input {n!r} must be [batch, ...], got a scalar", where=n,
                                     hint="add a batch axis")
            b = int(t.shape[0]) if t.shape[0] is not None else int(tf.shape(t)[0])
            if batch is None:
                batch = b
            elif b != batch:
                raise StepGraphError(f"outside input {n!r} has batch {b}, expected {batch}", where=n,
                                     hint="all outside inputs share the batch axis 0")
        if batch is None:
            raise StepGraphError("no outside inputs: give batch_size=", where=REC, hint="search(batch_size=2)")
        limit = max_len if max_len is not None else self.max_len
        if limit is None or int(limit) < 1:
            raise StepGraphError(f"max_len must be >= 1, got {limit!r}", where=REC,
                                 hint="BeamSearch(step, max_len=50) or search(..., max_len=50)")
        return tensors, int(batch), tf.constant(int(limit), tf.int32)

    # -- the graph ---------------------------------------------------------------------------------

    def _initial(self, name: str, batch: tf.Tensor) -> tf.Tensor:
        prog = self.program
        node = prog.step[name]
        k = prog.sizes.get(name) or 1
        if name == "end":
            return tf.zeros(tf.reshape(batch * k, [1]), tf.bool)
        init = node.get("initial", 0)
        if node.get("class") == "choice":
            return tf.fill(tf.reshape(batch * k, [1]), tf.cast(init, tf.int32))
        if callable(init):
            value = tf.convert_to_tensor(init(batch))
            return tile_to_beam(value, k)
        value = tf.convert_to_tensor(init)
        shape = tf.concat([tf.reshape(batch * k, [1]), tf.shape(value)], axis=0)
        return tf.broadcast_to(value, shape)

    def _scores(self, c: ChoiceProgram, x: tf.Tensor) -> tf.Tensor:
        if c.input_type == "log_prob":
            return x
        if c.input_type == "logits":
            return tf.nn.log_softmax(x)
        return tf.math.log(tf.maximum(x, tf.cast(1e-20, x.dtype)))  # RETURNN's safe_log

    def _frame(self, t: tf.Tensor, first: bool, batch: tf.Tensor, prev: dict[str, tf.Tensor],
               prev_src: dict[str, tf.Tensor], prev_scores: tf.Tensor,
               pre: dict[str, tf.Tensor], tiled: dict[tuple[str, int], tf.Tensor]) -> tuple[Any, ...]:
        prog = self.program
        vals: dict[str, tf.Tensor] = {}
        src: dict[str, tf.Tensor] = {f"{REC}/prev:{c}": s for c, s in prev_src.items()}
        scores: dict[str, tf.Tensor] = {}
        choices = {c.name: c for c in prog.choices}

        def fetch(key: str) -> tf.Tensor:
            if key == f"{REC}/:i":
                return t
            if key in pre:
                return pre[key]
            if key.startswith(f"{REC}/prev:"):
                return prev[key[len(REC) + 6:]]
            return vals[key[len(REC) + 1:]]

        def translate(item: InputPlan) -> tf.Tensor:
            if item.action == "tile" and (item.input, item.size) in tiled:
                return tiled[(item.input, item.size)]
            x = fetch(item.input)
            if item.action == "keep":
                return x
            if item.action == "tile":
                return tile_to_beam(x, item.size)
            return select_src_beams(x, compose_src_beams([src[s.choice] for s in item.steps]))

        end_flags = None
        for name in prog.order:
            node = prog.nodes[name]
            if node.invariant:
                continue
            needed = set(node.args) | ({f"{REC}/prev:end"} if node.kind == "end" else set())
            moved = {key: translate(item) for key, item in node.plans.items() if key in needed}
            args = [moved[a] if a in moved else fetch(a) for a in node.args]
            if node.kind == "choice":
                c = choices[name]
                try:
                    labels, src_beams, beam_scores = self._choose(c, args[0], t, first, batch, prev, scores,
                                                                  prev_scores, src)
                except ValueError as exc:  # static shapes that cannot be [batch*beam_in, vocab]
                    raise StepGraphError(
                        f"its scores {c.source!r} have shape {getattr(args[0], 'shape', '?')}, not "
                        f"[batch*{c.base_size}, vocab]: {str(exc).splitlines()[0][:200]}",
                        where=f"{REC}/{name}", hint=f"{c.source!r} must give one row per hypothesis of "
                        f"{c.base}") from exc
                vals[name] = labels
                src[f"{REC}/{name}"] = src_beams
                scores[name] = beam_scores
                continue
            value = self._call(name, args)
            if first:  # rows are checked once, in frame 0: batch * the node's beam size
                rows = batch * (node.size or 1)
                check = tf.debugging.assert_equal(
                    tf.shape(value)[0], rows, message=f"{REC}/{name}: fn must return [batch*beam, ...] = "
                    f"[batch*{node.size or 1}, ...] rows (the node's beam: {node.beam})")
                with tf.control_dependencies([check]):
                    value = tf.identity(value)
            if node.kind == "end":
                if value.dtype != tf.bool:
                    value = tf.cast(value, tf.bool)
                value = tf.reshape(value, [-1])
                value = tf.logical_or(value, moved[f"{REC}/prev:end"])
                end_flags = value
            vals[name] = value
        new_state = {}
        for name in prog.state:
            plan = prog.frame_plans.get(name)
            x = vals[name] if name in vals else pre[f"{REC}/{name}"]
            if plan is not None and plan.action == "select":
                x = select_src_beams(x, compose_src_beams([src[s.choice] for s in plan.steps]))
            new_state[name] = x
        cur_src = {c.name: src[f"{REC}/{c.name}"] for c in prog.choices}
        return vals, cur_src, scores, new_state, end_flags

    def _call(self, name: str, args: list[Any]) -> tf.Tensor:
        """Call a node's ``fn``; a Python error while tracing names the node."""
        try:
            with tf.name_scope(name):
                return tf.convert_to_tensor(self.program.step[name]["fn"](*args))
        except Exception as exc:
            if isinstance(exc, tf.errors.OpError):
                raise
            shapes = ", ".join(f"{r}: {getattr(a, 'shape', '?')}" for r, a in
                               zip(self.program.nodes[name].refs, args))
            raise StepGraphError(f"fn raised {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                                 where=f"{REC}/{name}", hint=f"its inputs were {shapes}") from exc

    def _choose(self, c: ChoiceProgram, x: tf.Tensor, t: tf.Tensor, first: bool, batch: tf.Tensor,
                prev: dict[str, tf.Tensor], scores: dict[str, tf.Tensor], prev_scores: tf.Tensor,
                src: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.name_scope(c.name):
            x = self._scores(c, tf.convert_to_tensor(x))
            dim = x.shape[-1] if x.shape.rank is not None and x.shape[-1] is not None else tf.shape(x)[-1]
            from_prev = c.base.startswith(f"{REC}/prev:")
            base = prev_scores if from_prev else scores[c.base[len(REC) + 1:]]
            k_in = c.base_size
            if first and from_prev:  # RETURNN's first frame: only hypothesis 0 of the initial beam
                x3 = tf.reshape(x, tf.stack([batch, k_in, dim]))[:, :1]
                base = tf.zeros(tf.stack([batch, 1]), x.dtype)
                k_in = 1
            else:
                if c.end_plan is not None and not first:
                    item = c.end_plan
                    ended = prev["end"]
                    if item.action == "select":
                        ended = select_src_beams(ended, compose_src_beams([src[s.choice] for s in item.steps]))
                    elif item.action == "tile":
                        ended = tile_to_beam(ended, item.size)
                    if c.length_normalization:
                        tf_ = tf.cast(t, tf.float32)
                        factor = tf.pow((tf_ + 1.0) / tf_, c.length_normalization_exponent)
                        e2 = tf.reshape(ended, tf.shape(base))
                        base = base * tf.where(e2, tf.ones(tf.shape(e2)) * factor, tf.ones(tf.shape(e2)))
                    keep0 = tf.one_hot(0, dim, on_value=0.0, off_value=-1.0e30, dtype=x.dtype)
                    x = tf.where(ended[:, None], keep0[None, :], x)
                x3 = tf.reshape(x, tf.stack([batch, k_in, dim]))
            combined = x3 + base[:, :, None]
            flat = tf.reshape(combined, tf.stack([batch, k_in * dim]))
            k = c.beam_size
            if isinstance(dim, int):
                kk: Any = min(k, k_in * dim)
            else:
                kk = tf.minimum(k, k_in * dim)
            beam_scores, idx = tf.nn.top_k(flat, k=kk)
            if not isinstance(kk, int) or kk < k:
                pad = tf.stack([batch, k - kk])
                idx = tf.concat([idx, tf.zeros(pad, idx.dtype)], axis=-1)
                beam_scores = tf.concat([beam_scores, tf.fill(pad, tf.constant(-np.inf, beam_scores.dtype))],
                                        axis=-1)
            src_beams = tf.cast(idx // dim, tf.int32)
            labels = tf.cast(idx % dim, tf.int32)
            return tf.reshape(labels, [-1]), src_beams, beam_scores

    def _search_raw(self, inputs: dict[str, tf.Tensor], batch: tf.Tensor, max_len: tf.Tensor) -> tuple[Any, ...]:
        """The loop and the backtracking, without the final length normalisation.

        Returns ``(sequences..., lengths, raw_scores, frames)``.
        """
        return self._finish(self._loop(inputs, batch, max_len, None))

    def _loop(self, inputs: dict[str, tf.Tensor], batch: tf.Tensor, max_len: tf.Tensor,
              size: int | None) -> tuple[Any, ...]:
        """The search loop: ``(labels, src_beams, end_flags, last_scores, frames)``, the first three
        ``[T, batch, K]`` per frame (``T = size`` with fixed-size arrays, for XLA, else the frames run)."""
        prog = self.program
        batch = tf.cast(batch, tf.int32)
        pre: dict[str, tf.Tensor] = dict(inputs)
        for name in prog.order:  # loop-invariant nodes: once, beamless
            node = prog.nodes[name]
            if node.invariant:
                pre[f"{REC}/{name}"] = self._call(name, [pre[a] for a in node.args])
        tiled: dict[tuple[str, int], tf.Tensor] = {}
        for node in prog.nodes.values():
            for key, item in node.plans.items():
                if item.action == "tile" and key in pre and item.size is not None \
                        and (key, item.size) not in tiled:
                    tiled[(key, item.size)] = tile_to_beam(pre[key], item.size)
        prev = {name: self._initial(name, batch) for name in prog.state}
        prev_src = {c.name: tf.zeros(tf.stack([batch, c.beam_size]), tf.int32) for c in prog.choices}
        latest = prog.latest
        prev_scores = tf.zeros(tf.stack([batch, latest.beam_size]), tf.float32)
        names = prog.choice_names
        end = prog.end is not None

        def arrays() -> list[tf.TensorArray]:
            tas = []
            opts: dict[str, Any] = {"size": 0, "dynamic_size": True} if size is None else \
                {"size": size, "dynamic_size": False}
            for _ in names:
                tas.append(tf.TensorArray(tf.int32, **opts))  # labels
                tas.append(tf.TensorArray(tf.int32, **opts))  # src_beams
            if end:
                tas.append(tf.TensorArray(tf.bool, **opts))
            return tas

        def write(tas: list[tf.TensorArray], t: tf.Tensor, vals: dict[str, tf.Tensor],
                  src: dict[str, tf.Tensor], end_flags: tf.Tensor | None) -> list[tf.TensorArray]:
            out = []
            for i, c in enumerate(prog.choices):
                lab = tf.reshape(vals[c.name], tf.stack([batch, c.beam_size]))
                out.append(tas[2 * i].write(t, lab))
                out.append(tas[2 * i + 1].write(t, src[c.name]))
            if end:
                k_end = prog.sizes["end"] or 1
                out.append(tas[-1].write(t, tf.reshape(end_flags, tf.stack([batch, k_end]))))
            return out

        t0 = tf.constant(0, tf.int32)
        vals, src, scores, state, end_flags = self._frame(t0, True, batch, prev, prev_src, prev_scores, pre, tiled)
        if end:
            state_end = state["end"]
            end_flags = state_end if prog.frame_plans.get("end") is not None else end_flags
        tas = write(arrays(), t0, vals, src, end_flags)
        state_names = list(prog.state)

        def cond(t: tf.Tensor, state: tuple, src: tuple, last_scores: tf.Tensor, tas: tuple) -> tf.Tensor:
            go = t < max_len
            if end:
                go = tf.logical_and(go, tf.logical_not(tf.reduce_all(state[state_names.index("end")])))
            return go

        def body(t: tf.Tensor, state: tuple, src: tuple, last_scores: tf.Tensor, tas: tuple) -> tuple:
            prev = dict(zip(state_names, state))
            psrc = dict(zip(names, src))
            vals, cur_src, scores, new_state, end_flags = self._frame(t, False, batch, prev, psrc, last_scores,
                                                                      pre, tiled)
            if end and prog.frame_plans.get("end") is not None:
                end_flags = new_state["end"]
            tas = write(list(tas), t, vals, cur_src, end_flags)
            return (t + 1, tuple(new_state[n] for n in state_names), tuple(cur_src[n] for n in names),
                    scores[latest.name], tuple(tas))

        loop_vars = (tf.constant(1, tf.int32), tuple(state[n] for n in state_names),
                     tuple(src[n] for n in names), scores[latest.name], tuple(tas))
        t_end, _, _, last_scores, tas = tf.while_loop(cond, body, loop_vars, parallel_iterations=1,
                                                      maximum_iterations=size)
        labels = tuple(tas[2 * i].stack() for i in range(len(names)))
        srcs = tuple(tas[2 * i + 1].stack() for i in range(len(names)))
        end_stack = (tas[-1].stack(),) if end else ()
        return labels, srcs, end_stack, last_scores, t_end

    def _finish(self, loop_out: tuple[Any, ...]) -> tuple[Any, ...]:
        """Backtrack the loop's arrays: ``(sequences..., lengths, raw_scores, frames)``."""
        labels, srcs, end_stack, last_scores, t_end = loop_out
        if labels[0].shape[0] is not None:  # fixed-size arrays: only the frames that ran
            labels = [x[:t_end] for x in labels]
            srcs = [x[:t_end] for x in srcs]
            end_stack = tuple(x[:t_end] for x in end_stack)
        res = backtrack_tensors(labels, srcs, last_scores[None], end_stack[0] if end_stack else None,
                                end_index=self.program.end_index, include_eos=self.include_eos)
        return (*res.sequences, res.lengths, res.scores, t_end)

    def _normalize(self, scores: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        if not self.program.latest.length_normalization:
            return scores
        steps = tf.reduce_max(lengths) + (0 if self.include_eos else 1)
        return scores / tf.cast(steps, scores.dtype)

    def _search(self, inputs: dict[str, tf.Tensor], batch: tf.Tensor, max_len: tf.Tensor) -> tuple[Any, ...]:
        return self._finish_normalized(self._loop(inputs, batch, max_len, None))

    def _finish_normalized(self, loop_out: tuple[Any, ...]) -> tuple[Any, ...]:
        *seqs, lengths, scores, frames = self._finish(loop_out)
        return (*seqs, lengths, self._normalize(scores, lengths), frames)

    def _result(self, out: Sequence[tf.Tensor]) -> SearchResult:
        *seqs, lengths, scores, frames = out
        names = self.program.choice_names
        return SearchResult(dict(zip(names, seqs)), lengths, scores, frames, names)

    def _merge(self, shards: list[tuple[tf.Tensor, ...]]) -> SearchResult:
        """Put replica results back together as the single-device run gives them."""
        prog = self.program
        n_choices = len(prog.choices)
        frames = [int(s[-1]) for s in shards]
        t_max = max(frames)
        seqs: list[list[tf.Tensor]] = [[] for _ in range(n_choices)]
        lengths, scores = [], []
        for shard, t_s in zip(shards, frames):
            for i in range(n_choices):
                s = tf.convert_to_tensor(shard[i])
                if t_s < t_max:  # ended hypotheses continue with label 0
                    s = tf.pad(s, [[0, 0], [0, 0], [0, t_max - t_s]])
                seqs[i].append(s)
            sc = tf.convert_to_tensor(shard[n_choices + 1])
            if t_s < t_max and prog.end is not None:
                sc = self._continue_ended(sc, t_s, t_max)
            lengths.append(tf.convert_to_tensor(shard[n_choices]))
            scores.append(sc)
        all_lengths = tf.concat(lengths, axis=0)
        all_scores = self._normalize(tf.concat(scores, axis=0), all_lengths)
        names = prog.choice_names
        return SearchResult({c: tf.concat(seqs[i], axis=0) for i, c in enumerate(names)}, all_lengths,
                            all_scores, tf.constant(t_max, tf.int32), names, frames)

    def _continue_ended(self, scores: tf.Tensor, t_from: int, t_to: int) -> tf.Tensor:
        """Frames ``t_from .. t_to-1`` of an all-ended beam: each length-normalising choice scales
        the scores by ``((t+1)/t)^exponent`` (as in the loop: same order, same float ops); the
        order of the hypotheses does not change."""
        for t in range(t_from, t_to):
            tf_ = tf.constant(float(t), tf.float32)
            for c in self.program.choices:
                if c.length_normalization:
                    factor = tf.pow((tf_ + 1.0) / tf_, c.length_normalization_exponent)
                    scores = scores * (tf.ones(tf.shape(scores)) * factor)
        return scores


def beam_search(step: Mapping[str, Mapping[str, Any]], inputs: Mapping[str, Any] | None = None, *,
                max_len: int, batch_size: int | None = None, include_eos: bool = False) -> SearchResult:
    """One-shot :class:`BeamSearch`: compile ``step`` and search ``inputs`` (names from the mapping)."""
    return BeamSearch(step, inputs=list(inputs or {}), max_len=max_len, include_eos=include_eos)(
        inputs, batch_size=batch_size)


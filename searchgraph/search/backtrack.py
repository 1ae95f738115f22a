"""Backtracking a recorded beam search into n-best sequences, RETURNN's way (NumPy reference).

After the loop, RETURNN resolves every accumulated per-frame output into the beam of the frame's
**latest** choice (``RecLayer`` ``_opt_search_resolve``, ``returnn-search-semantics.md`` §6.4):
starting with the identity on the latest choice's last-frame beam, it walks back frame by frame
and, inside a frame, through every choice latest first, following ``src_beams``. Sequence lengths
are counted during the loop in the beam of the end layer's choice and finally re-selected through
the last frame's ``src_beams`` of the newer choices (§4.6, §6.4).

:func:`backtrack` gives the same results without a loop over the frames: the frame-to-frame maps
are composed by pointer doubling (``ceil(log2 T)`` gathers over all frames at once), and the
lengths follow from the end flags along each final hypothesis' path (:func:`path_lengths`, equal
to RETURNN's frame-by-frame rule in :func:`seq_lengths`). No TensorFlow here; see
:mod:`searchgraph.tf.backtrack` for the TF version with the same results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .trace import SearchTrace

__all__ = ["BacktrackResult", "backtrack", "finalize_scores", "gather_tree", "path_lengths", "seq_lengths"]


def _take(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``out[b, k] = x[b, idx[b, k]]`` (RETURNN's ``select_src_beams`` on ``[B, K, ...]``)."""
    idx = idx.reshape(idx.shape + (1,) * (x.ndim - 2))
    return np.take_along_axis(x, idx, axis=1)


def gather_tree(labels: np.ndarray, src_beams: np.ndarray) -> np.ndarray:
    """Label sequences of the final hypotheses from per-frame labels and parent pointers.

    Like TF Addons' ``GatherTree`` without end-token handling: the result's ``[:, b, k]`` is the
    label history of hypothesis ``k`` of the last frame.

    Parameters
    ----------
    labels : np.ndarray
        ``[T, batch, beam]``: the label chosen at frame ``t`` for each hypothesis.
    src_beams : np.ndarray
        ``[T, batch, beam]``: the hypothesis of frame ``t - 1`` each one extends (``src_beams[0]``
        is not used).

    Returns
    -------
    np.ndarray
        ``[T, batch, beam]``, ``labels``' dtype.

    Examples
    --------
    >>> labels = np.array([[[1, 2]], [[3, 4]]])      # T=2, batch=1, beam=2
    >>> parents = np.array([[[0, 0]], [[1, 1]]])     # both frame-1 hyps extend hyp 1
    >>> gather_tree(labels, parents)[:, 0, :].T
    array([[2, 3],
           [2, 4]])
    """
    labels, src_beams = np.asarray(labels), np.asarray(src_beams)
    if labels.ndim != 3 or labels.shape != src_beams.shape:
        raise ValueError(f"labels and src_beams must both be [T, batch, beam], got {labels.shape} "
                         f"and {src_beams.shape}")
    t_max, batch, beam = labels.shape
    out = np.empty_like(labels)
    beams = np.broadcast_to(np.arange(beam), (batch, beam))
    for t in range(t_max - 1, -1, -1):
        out[t] = _take(labels[t], beams)
        beams = _take(src_beams[t], beams)
    return out


@dataclass(eq=False)
class BacktrackResult:
    """RETURNN's resolved loop outputs of one search.

    Attributes
    ----------
    choices : list of str
        The trace's choices, oldest first; ``choices[-1]`` is the beam everything is in.
    sequences : dict of str to np.ndarray
        Per choice, the label sequences ``[batch, K_latest, T]`` of the final hypotheses. Frames
        past a hypothesis' length hold whatever the search chose there (RETURNN's output too; it
        stacks only up to :attr:`max_length` frames, see :meth:`trimmed`).
    beam_indices : dict of str to np.ndarray
        Per choice, ``[T, batch, K_latest]``: which hypothesis of that choice's beam at frame ``t``
        each final hypothesis passes through. ``sequences[c][b, k, t] ==
        labels[c][t, b, beam_indices[c][t, b, k]]``.
    lengths : np.ndarray
        ``[batch, K_latest]`` int32 sequence lengths (RETURNN's ``seq_len``), or ``T`` everywhere
        if the trace has no end flags.
    scores : np.ndarray
        ``[batch, K_latest]``: the latest choice's beam scores of the last frame (before the
        length normalisation RETURNN applies at the end, see :func:`finalize_scores`).
    """

    choices: list[str]
    sequences: dict[str, np.ndarray]
    beam_indices: dict[str, np.ndarray]
    lengths: np.ndarray
    scores: np.ndarray

    @property
    def max_length(self) -> int:
        """``max(lengths)``: the number of frames RETURNN's resolved output has."""
        return int(self.lengths.max()) if self.lengths.size else 0

    def trimmed(self) -> dict[str, np.ndarray]:
        """:attr:`sequences` cut to :attr:`max_length` frames, as RETURNN stacks them."""
        return {c: s[..., : self.max_length] for c, s in self.sequences.items()}

    def resolve(self, values: np.ndarray, choice: str, *, prev_frame: bool = False) -> np.ndarray:
        """Resolve any per-frame value in ``choice``'s beam into the final hypotheses.

        Parameters
        ----------
        values : np.ndarray
            ``[T, batch, K_choice, ...]``, the accumulated value of a layer whose beam is
            ``choice`` (or ``prev:choice`` with ``prev_frame``).
        choice : str
            One of :attr:`choices`.
        prev_frame : bool, optional
            The layer is on ``prev:choice``: its frame-``t`` value lives in ``choice``'s beam of
            frame ``t - 1``; frame 0 takes hypothesis 0 (all initial hypotheses are equal), as
            RETURNN does.

        Returns
        -------
        np.ndarray
            ``[T, batch, K_latest, ...]``.
        """
        values = np.asarray(values)
        idx = self.beam_indices[choice]
        if values.shape[:2] != idx.shape[:2]:
            raise ValueError(f"values must be [T, batch, K, ...] with T, batch = {idx.shape[:2]}, "
                             f"got shape {values.shape}")
        if prev_frame:
            idx = np.concatenate([np.zeros_like(idx[:1]), idx[:-1]], axis=0)
        return np.stack([_take(values[t], idx[t]) for t in range(idx.shape[0])])


def _beam_indices(trace: SearchTrace) -> dict[str, np.ndarray]:
    """Per choice ``[T, B, K_latest]``: the hypothesis of that choice's beam at frame ``t`` that each
    final hypothesis passes through.

    Vectorised over the frames: ``step[t]`` maps the latest beam of frame ``t`` to the latest beam of
    frame ``t - 1`` (through every choice of frame ``t``, latest first); the suffix compositions
    ``step[t + 1] ∘ … ∘ step[T - 1]`` come from pointer doubling in ``ceil(log2 T)`` gathers over
    all frames at once; the other choices follow within each frame.
    """
    srcs = [trace.src_beams[c] for c in trace.choices]
    step = srcs[-1]
    for src in reversed(srcs[:-1]):
        step = np.take_along_axis(src, step, axis=2)
    t_max, batch, k_last = step.shape
    ident = np.broadcast_to(np.arange(k_last, dtype=np.int32), (1, batch, k_last))
    path = np.concatenate([step[1:], ident], axis=0)  # path[t]: frame t+1 -> frame t; then id
    shift = 1
    while shift < t_max:  # path[t] <- path[t] ∘ path[t + shift]
        path = np.concatenate([np.take_along_axis(path[:-shift], path[shift:], axis=2), path[-shift:]])
        shift *= 2
    out = {trace.latest_choice: path}
    for j in range(len(srcs) - 1, 0, -1):  # within the frame: into the previous choice's beam
        path = np.take_along_axis(srcs[j], path, axis=2)
        out[trace.choices[j - 1]] = path
    return {c: out[c] for c in trace.choices}


def path_lengths(trace: SearchTrace, beam_indices: dict[str, np.ndarray]) -> np.ndarray:
    """:func:`seq_lengths` from the final hypotheses' paths (``BacktrackResult.beam_indices``).

    RETURNN carries the end flag along each hypothesis' ancestry and ORs it, so a final hypothesis
    has ended at frame ``t`` iff the end flag is set somewhere on its own path up to ``t``; the
    length counts the frames before that (``include_eos``: up to and including it).
    """
    t_max = trace.frames
    if trace.end_flags is None or trace.end_choice is None:
        k_last = trace.beam_sizes[trace.latest_choice]
        return np.full((trace.batch, k_last), t_max, np.int32)
    flags = np.take_along_axis(trace.end_flags, beam_indices[trace.end_choice], axis=2)  # [T, B, K]
    ended = np.logical_or.accumulate(flags, axis=0)
    stopped = ended[:-1] if trace.include_eos else ended  # with EOS: the frame that ends still counts
    return (t_max - stopped.sum(axis=0, dtype=np.int32)).astype(np.int32)


def seq_lengths(trace: SearchTrace) -> np.ndarray:
    """Sequence lengths ``[batch, K_latest]`` by RETURNN's rule, in the latest choice's beam.

    Per frame, in the beam of the end choice ``E``: carry the previous length and end flag over
    (through the frame ``t - 1`` choices newer than ``E``, then the frame ``t`` choices up to
    ``E``), OR the end flag, and add 1 unless ended: with ``include_eos=False`` unless ``end`` is
    true now (the EOS frame is excluded), with ``include_eos=True`` unless it was true before (it
    is included). Finally re-select through the last frame's ``src_beams`` of the choices newer
    than ``E``. Without end flags every length is ``T``.

    Examples
    --------
    >>> z = np.zeros((3, 1, 1), np.int32)
    >>> end = np.array([False, True, True]).reshape(3, 1, 1)
    >>> tr = SearchTrace.from_arrays("r", ["r/c"], {"r/c": z}, {"r/c": z}, {"r/c": z * 0.0},
    ...                              end_flags=end, end_choice="r/c")
    >>> int(seq_lengths(tr)[0, 0])
    1
    """
    t_max, batch = trace.frames, trace.batch
    k_last = trace.beam_sizes[trace.latest_choice]
    if trace.end_flags is None:
        return np.full((batch, k_last), t_max, np.int32)
    e = trace.end_index
    assert e is not None
    older, newer = trace.choices[: e + 1], trace.choices[e + 1:]
    # State in the latest choice's beam of frame t-1; the initial one is all-equal (frame -1).
    length = np.zeros((batch, k_last), np.int32)
    ended = np.zeros((batch, k_last), bool)
    for t in range(t_max):
        for c in older:  # frame t, oldest first: into E's beam of frame t
            length, ended = _take(length, trace.src_beams[c][t]), _take(ended, trace.src_beams[c][t])
        end_now = trace.end_flags[t] | ended
        stop = ended if trace.include_eos else end_now
        length = length + np.where(stop, 0, 1).astype(np.int32)
        ended = end_now
        for c in newer:  # frame t's newer choices: into the latest beam of frame t
            length, ended = _take(length, trace.src_beams[c][t]), _take(ended, trace.src_beams[c][t])
    return length


def finalize_scores(scores: np.ndarray, lengths: np.ndarray, include_eos: bool) -> np.ndarray:
    """RETURNN's end-of-search length normalisation of the final beam scores.

    ``ChoiceLayer.post_process_final_rec_vars_outputs`` (when ``length_normalization`` is on,
    RETURNN's default) divides all final scores by ``max(lengths)`` over the **whole batch and
    beam**, plus 1 without ``include_eos``; it is not a per-hypothesis division.

    Examples
    --------
    >>> finalize_scores(np.array([[-6.0, -3.0]]), np.array([[2, 1]]), include_eos=False)
    array([[-2., -1.]])
    """
    scores, lengths = np.asarray(scores), np.asarray(lengths)
    steps = int(lengths.max()) + (0 if include_eos else 1)
    return (scores / np.asarray(steps, scores.dtype)).astype(scores.dtype)


def backtrack(trace: SearchTrace) -> BacktrackResult:
    """Resolve a recorded search into RETURNN's n-best outputs (sequences, lengths, scores).

    Parameters
    ----------
    trace : SearchTrace
        One search of one rec loop, one or more choices per frame.

    Returns
    -------
    BacktrackResult
        Everything in the beam of ``trace.latest_choice``. Compare with ``trace.final_lengths``
        and ``trace.final_scores`` (the latter after :func:`finalize_scores` if RETURNN's
        length normalisation was on).

    Examples
    --------
    >>> lab = np.array([[[5, 6]], [[7, 8]]])                # T=2, batch=1, K=2
    >>> src = np.array([[[0, 0]], [[1, 0]]])
    >>> tr = SearchTrace.from_arrays("output", ["output/output"], {"output/output": lab},
    ...                              {"output/output": src}, {"output/output": lab * -1.0})
    >>> backtrack(tr).sequences["output/output"][0].tolist()
    [[6, 7], [5, 8]]
    """
    if not isinstance(trace, SearchTrace):
        raise TypeError(f"backtrack expects a SearchTrace, got {type(trace).__name__}")
    idx = _beam_indices(trace)
    sequences = {}
    for c in trace.choices:
        gathered = np.take_along_axis(trace.labels[c], idx[c], axis=2)  # [T, B, K_latest]
        sequences[c] = np.ascontiguousarray(gathered.transpose(1, 2, 0))
    scores = trace.scores[trace.latest_choice][-1].copy()
    return BacktrackResult(choices=list(trace.choices), sequences=sequences, beam_indices=idx,
                           lengths=path_lengths(trace, idx), scores=scores)

"""Rich renderables for a recorded beam search: the n-best lists and, per frame, every choice's beams.

Used by ``searchgraph trace``. Everything is computed with the NumPy backtracking
(:mod:`searchgraph.search.backtrack`); no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..search.backtrack import BacktrackResult, backtrack
from ..search.records import hypothesis_scores
from ..search.trace import SearchTrace
from ..search.vocab import TraceVocab, target_vocab

__all__ = ["ReturnnCheck", "attention_table", "check_against_returnn", "final_scores", "frames_table",
           "nbest_table", "trace_header", "trace_view"]

_LEGEND = ("src→label: hypothesis k extends hypothesis src of the previous choice's beam (the first "
           "choice: of the latest choice's beam one frame back); bold green: the best final hypothesis' "
           "path; dim: its end flag is set")
#: Label sequences longer than this are cut in the n-best table.
MAX_LABELS = 40


@dataclass
class ReturnnCheck:
    """Whether our backtracking of a trace reproduces RETURNN's recorded n-best (None: not recorded)."""

    sequences: bool | None
    lengths: bool | None
    scores: bool | None

    @property
    def ok(self) -> bool:
        """No recorded part differs."""
        return all(v is not False for v in (self.sequences, self.lengths, self.scores))

    @property
    def recorded(self) -> bool:
        """Some part of RETURNN's result was recorded in the trace."""
        return any(v is not None for v in (self.sequences, self.lengths, self.scores))


def final_scores(trace: SearchTrace, result: BacktrackResult) -> np.ndarray:
    """The final scores as RETURNN reports them (length-normalised unless the trace says it was off)."""
    return hypothesis_scores(trace, result)


def check_against_returnn(trace: SearchTrace, result: BacktrackResult | None = None) -> ReturnnCheck:
    """Compare our backtracking with RETURNN's results stored in the trace (see :func:`capture_search`).

    Sequences are compared exactly (``meta["returnn_sequences"]``, cut to ``max(lengths)`` frames as
    RETURNN stacks them), lengths exactly, scores to float tolerance.
    """
    result = result if result is not None else backtrack(trace)
    sequences = lengths = scores = None
    recorded = trace.meta.get("returnn_sequences")
    if isinstance(recorded, dict) and set(recorded) == set(trace.choices):
        trimmed = result.trimmed()
        def same(rec: np.ndarray, ours: np.ndarray) -> bool:  # -1: a merged trace's padding
            return rec.shape == ours.shape and bool(np.array_equal(rec[rec >= 0], ours[rec >= 0]))

        sequences = all(same(np.asarray(recorded[c]), trimmed[c]) for c in trace.choices)
    if trace.final_lengths is not None:
        lengths = bool(np.array_equal(trace.final_lengths, result.lengths))
    if trace.final_scores is not None:
        scores = bool(np.allclose(trace.final_scores, final_scores(trace, result), rtol=1e-5, atol=1e-5))
    return ReturnnCheck(sequences=sequences, lengths=lengths, scores=scores)


def _short(name: str, trace: SearchTrace) -> str:
    return name[len(trace.rec) + 1:] if name.startswith(trace.rec + "/") else name


def trace_header(trace: SearchTrace, check: ReturnnCheck | None = None) -> Text:
    """What was recorded: the loop, its choices with beam sizes, frames, batch, the end layer, origin."""
    choices = ", ".join(f"{_short(c, trace)} ×{trace.beam_sizes[c]}" for c in trace.choices)
    text = Text.assemble(("search trace ", "bold"), (trace.rec, "bold cyan"),
                         f": {trace.frames} frames, batch {trace.batch}, choices {choices}")
    if trace.end_choice is not None:
        how = "input lengths (no end layer)" if trace.meta.get("end_flags_synthesized") \
            else f"end layer in {_short(trace.end_choice, trace)}'s beam"
        text.append(f"\nends: {how}" + (", include_eos" if trace.include_eos else ""))
    else:
        text.append("\nends: no end flags (every hypothesis runs all frames)")
    keys = ("source", "checkpoint", "dataset") if trace.meta.get("checkpoint") else ("source", "seed", "dataset")
    origin = [f"{k} {trace.meta[k]}" for k in keys if trace.meta.get(k) not in (None, "<dict>")]
    if trace.meta.get("returnn"):
        origin.append(f"RETURNN {trace.meta['returnn']}")
    if origin:
        text.append("\nrecorded from " + ", ".join(origin), style="dim")
    for note in trace.meta.get("notes") or []:
        text.append(f"\nnote: {note}", style="yellow")
    if check is not None and check.recorded:
        marks = []
        for what in ("sequences", "lengths", "scores"):
            value = getattr(check, what)
            if value is not None:
                marks.append((f"{what} {'✓' if value else '✗'}  ", "green" if value else "bold red"))
        text.append("\nbacktracking vs RETURNN's own n-best: ")
        text.append_text(Text.assemble(*marks))
    return text


def _labels(seq: np.ndarray, length: int, vocab: TraceVocab | None = None) -> Text:
    shown = [vocab.token(int(x)) if vocab else str(int(x)) for x in seq[: min(length, MAX_LABELS)]]
    text = Text(" ".join(shown) if shown else "(empty)", style="" if shown else "dim")
    if length > MAX_LABELS:
        text.append(f" … (+{length - MAX_LABELS})", style="dim")
    return text


def _score(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.3g}"  # RETURNN's -1e30: no valid hypothesis


def nbest_table(trace: SearchTrace, result: BacktrackResult, entry: int) -> Table:
    """The final hypotheses of one batch entry, best first: score, length, labels of every choice."""
    scores = final_scores(trace, result)[entry]
    lengths = result.lengths[entry]
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("hyp", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("len", justify="right", no_wrap=True)
    vocab = target_vocab(trace.meta)
    for c in trace.choices:
        table.add_column(_short(c, trace), overflow="fold")
    if vocab is not None:
        table.add_column("text", overflow="fold")
    for k in np.argsort(-scores, kind="stable"):
        row: list[RenderableType] = [str(int(k)), _score(float(scores[k])), str(int(lengths[k]))]
        row += [_labels(result.sequences[c][entry, k], int(lengths[k]),
                        vocab if c == trace.latest_choice else None) for c in trace.choices]
        if vocab is not None:
            row.append(Text(vocab.join(result.sequences[trace.latest_choice][entry, k, :int(lengths[k])]),
                            style="cyan"))
        table.add_row(*row, style="bold" if k == int(np.argmax(scores)) else "")
    return table


_SHADES = " ░▒▓█"


def attention_table(trace: SearchTrace, result: BacktrackResult, name: str, entry: int, k: int) -> Table:
    """A compact heat map of hypothesis ``k``'s recorded attention: a row per output token, a shaded
    cell per input frame (shade relative to the row's largest weight), the argmax frame at the end."""
    from ..search.records import attention_matrix
    from ..search.vocab import input_vocab

    matrix = attention_matrix(trace, result, name, entry, k)
    vocab, in_vocab = target_vocab(trace.meta), input_vocab(trace.meta)
    labels = result.sequences[trace.latest_choice][entry, k, : matrix.shape[0]]
    inputs = (trace.meta.get("inputs_labels") or {}).get("data")
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("t", justify="right", no_wrap=True)
    table.add_column("token", no_wrap=True)
    heads = "".join(str(i % 10) for i in range(matrix.shape[1]))
    if inputs is not None and in_vocab is not None:
        heads = " ".join(in_vocab.tokens(inputs[entry][: matrix.shape[1]]))
    table.add_column(f"attention over input frames ({heads}; █ = the row's max)", no_wrap=True)
    table.add_column("max", justify="right", no_wrap=True)
    for t, row in enumerate(matrix):
        top = float(row.max()) or 1.0
        cells = "".join(_SHADES[min(len(_SHADES) - 1, round(float(v) / top * (len(_SHADES) - 1)))] for v in row)
        token = vocab.token(int(labels[t])) if vocab else str(int(labels[t]))
        table.add_row(str(t), token, cells, f"{int(np.argmax(row))} ({float(row.max()):.2f})")
    return table


def _frame_columns(trace: SearchTrace) -> list[tuple[str, int]]:
    """Every (choice, hypothesis) column of the frames table, choices in frame order."""
    return [(c, k) for c in trace.choices for k in range(trace.beam_sizes[c])]


def frames_table(trace: SearchTrace, result: BacktrackResult, entry: int,
                 columns: list[tuple[str, int]] | None = None) -> Table:
    """Per frame and choice, every hypothesis ``k`` as ``src→label``: it extends hypothesis ``src`` of
    the previous choice's beam (the first choice: of the latest choice's beam one frame back).

    ``columns`` limits the table to some (choice, hypothesis) columns (default: all). The path of the
    best final hypothesis is bold green; hypotheses whose end flag is set are dim.
    """
    columns = columns if columns is not None else _frame_columns(trace)
    best = int(np.argmax(final_scores(trace, result)[entry]))
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    table.add_column("t", justify="right", no_wrap=True, min_width=len(str(trace.frames - 1)))
    shown: set[str] = set()
    for c, k in columns:
        head = f"{_short(c, trace)}[{k}]" if c not in shown else f"[{k}]"
        shown.add(c)
        table.add_column(head, justify="right", no_wrap=True)
    for t in range(trace.frames):
        row: list[RenderableType] = [str(t)]
        for c, k in columns:
            on_path = int(result.beam_indices[c][t, entry, best])
            ended = trace.end_flags[t, entry] if trace.end_choice == c and trace.end_flags is not None \
                else None
            cell = f"{int(trace.src_beams[c][t, entry, k])}→{int(trace.labels[c][t, entry, k])}"
            style = "bold green" if k == on_path else ("dim" if ended is not None and ended[k] else "")
            row.append(Text(cell, style=style))
        table.add_row(*row)
    return table


def _column_chunks(trace: SearchTrace, entry: int, width: int) -> list[list[tuple[str, int]]]:
    """The frames table's columns split into groups that fit ``width`` characters without truncation."""
    columns = _frame_columns(trace)
    cell = 1
    for c, k in columns:
        head = len(f"{_short(c, trace)}[{k}]")
        body = max(len(f"{int(s)}→{int(lab)}") for s, lab in
                   zip(trace.src_beams[c][:, entry, k], trace.labels[c][:, entry, k]))
        cell = max(cell, head, body)
    per_chunk = max(1, (width - len(str(trace.frames)) - 1) // (cell + 1))
    return [columns[i:i + per_chunk] for i in range(0, len(columns), per_chunk)]


def trace_view(trace: SearchTrace, *, entries: list[int] | None = None, frames: bool = True,
               result: BacktrackResult | None = None, width: int = 100) -> Group:
    """Header, then per batch entry its n-best table and (with ``frames``) its per-frame beams.

    The frames table is split into several tables of hypotheses when it would be wider than ``width``.
    """
    result = result if result is not None else backtrack(trace)
    check = check_against_returnn(trace, result)
    parts: list[RenderableType] = [trace_header(trace, check)]
    for b in entries if entries is not None else range(trace.batch):
        tag = (trace.meta.get("seq_tags") or [None] * trace.batch)[b] if trace.meta.get("seq_tags") else None
        parts += [Text(""), Text(f"n-best of batch entry {b}" + (f" ({tag})" if tag else ""), style="bold"),
                  nbest_table(trace, result, b)]
        if trace.records:
            best = int(np.argmax(final_scores(trace, result)[b]))
            for name in trace.records:
                try:
                    table = attention_table(trace, result, name, b, best)
                except ValueError:
                    continue
                parts += [Text(""), Text(f"{_short(name, trace)} of the best hypothesis ({best}) of batch "
                                         f"entry {b}", style="bold"), table]
        if frames:
            chunks = _column_chunks(trace, b, width)
            for i, cols in enumerate(chunks):
                part = f" (part {i + 1} of {len(chunks)})" if len(chunks) > 1 else ""
                parts += [Text(""), Text(f"frames of batch entry {b}: src→label per hypothesis{part}",
                                         style="bold"), frames_table(trace, result, b, cols)]
    if frames:
        parts.append(Text(_LEGEND, style="dim"))
    return Group(*parts)


"""The walk of :mod:`searchgraph.analysis.choice_deps` over a frame's dependencies, from a real layer.

A frame of two choices, written as RETURNN's templates record them: ``output`` chosen from the previous
``t0``, and ``t0`` built from ``e`` (which leads to no choice) and ``start`` (a layer on no choice either).
``readout``, built, reads ``t0`` and ``prev:output``; asked for its search choices, RETURNN walks its
dependencies and orders ``t0`` and ``prev:output`` by their traces. Where ``t0``'s input ``start`` was
re-selected into the search choices of ``prev:output`` (a ``SelectSearchSourcesLayer``, which depends on
that owner too), ``t0``'s trace holds ``prev:output``; otherwise neither trace holds the other and
RETURNN raises ("Search choices cannot be compared").
"""

from __future__ import annotations

from searchgraph.analysis.choice_deps import incomparable_choices

# template dependencies: (all, those asked in the frame, those asked as prev:)
DEPS = {
    "readout": (["a", "t0", "output"], ["a", "t0"], ["output"]),
    "a": (["e"], [], ["e"]),
    "e": (["a"], ["a"], []),
    "t0": (["e", "start"], ["e", "start"], []),
    "start": (["c"], ["c"], []),
    "c": ([], [], []),
    "output": (["t0"], [], ["t0"]),
}
BUILT = frozenset({"readout", "a", "e", "t0", "start", "c"})
CHOICES = {"t0", "output"}


def _inputs(selected: bool):
    def real_inputs(node: str):
        _, cur, prev = DEPS[node]
        owner = ("output", True) if selected and node == "t0" else None
        return [(n, False, owner if n == "start" else None) for n in cur] + [(n, True, None) for n in prev]
    return real_inputs


def test_walk_without_re_selection_finds_choices_that_do_not_order() -> None:
    bad = incomparable_choices("readout", DEPS, BUILT, _inputs(False), CHOICES.__contains__)
    assert bad is not None and bad[0] == "compare"


def test_a_re_selected_input_depends_on_the_common_choices_owner() -> None:
    # the wrapper adds prev:output to t0's answer: prev:output is on t0's trace, t0 the newer
    assert incomparable_choices("readout", DEPS, BUILT, _inputs(True), CHOICES.__contains__) is None

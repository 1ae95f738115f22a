"""`SearchBeam`: RETURNN's static description of a beam, and its combination rule.

A beam is named ``<abs net prefix><choice layer>`` (``output/output``); the previous frame of a
beam inside a loop is ``<prefix>prev:<choice>`` (``output/prev:output``). Equality is by name, as in
RETURNN (``returnn/tf/util/data.py``, ``SearchBeam``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

__all__ = ["CombineError", "CompareError", "SearchBeam", "combine_beams"]


@dataclass(frozen=True, eq=False)
class SearchBeam:
    """A beam: name, size, the beam it was chosen from (``dependency``), and for a ``prev:`` beam
    the current-frame beam it is the previous frame of (``next_frame``)."""

    name: str
    size: int
    dependency: SearchBeam | None = field(default=None, repr=False)
    next_frame: SearchBeam | None = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchBeam) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @cached_property
    def is_prev_frame(self) -> bool:
        return self.name.rsplit("/", 1)[-1].startswith("prev:")

    def walk(self) -> list[SearchBeam]:
        """This beam and the beams along its ``dependency`` links, stopping at a repeat."""
        out: list[SearchBeam] = []
        beam: SearchBeam | None = self
        while beam is not None and beam not in out:
            out.append(beam)
            beam = beam.dependency
        return out

    @property
    def chain(self) -> list[str]:
        """The name followed by the names along the ``dependency`` links (RETURNN's beam chain)."""
        return list(self.chain_key)

    @cached_property
    def chain_key(self) -> tuple[str, ...]:
        """:attr:`chain` as a tuple, computed once (beams are immutable)."""
        return tuple(beam.name for beam in self.walk())

    def frame_walk(self) -> list[SearchBeam]:
        """:meth:`walk` up to the first previous-frame beam (excluded): the part of the chain chosen in
        this frame."""
        chain = self.walk()
        return chain[:next((i for i, b in enumerate(chain) if b.is_prev_frame), len(chain))]

    def frame_part(self) -> SearchBeam:
        """This beam with its chain cut before the first previous-frame link (the frame's own choices;
        a previous-frame beam is its own frame part)."""
        out: SearchBeam | None = None
        for b in reversed(self.frame_walk()):
            out = SearchBeam(b.name, b.size, out, b.next_frame)
        return out if out is not None else self

    def copy_as_prev_frame(self) -> SearchBeam:
        """The beam of this choice one frame earlier: ``a/b`` -> ``a/prev:b``, no dependency."""
        if self.is_prev_frame:
            return self
        head, _, base = self.name.rpartition("/")
        return SearchBeam(f"{head}/prev:{base}" if head else f"prev:{base}", self.size, None, self)

    def __str__(self) -> str:
        return f"{self.name}({self.size})"


class CombineError(Exception):
    """Two beams that RETURNN cannot combine ("Cannot combine beams")."""

    def __init__(self, first: SearchBeam, second: SearchBeam):
        self.first, self.second = first, second
        super().__init__(f"Cannot combine beams:\n  1: {first} (deps: {first.chain[1:]})\n"
                         f"  2: {second} (deps: {second.chain[1:]})")


class CompareError(CombineError):
    """Two previous-frame search choices whose current frames RETURNN compares as the older one's real
    layer and the newer one's template ("Cannot compare search choices", :mod:`.frame_order`)."""

    def __init__(self, first: SearchBeam, second: SearchBeam):
        super().__init__(first, second)
        message = (f"Cannot compare search choices {first.name} and {second.name}: in this frame "
                   f"{first.next_frame.name if first.next_frame else first.name} is built, "
                   f"{second.next_frame.name if second.next_frame else second.name} is still a template")
        self.args = (message,)


def _combine_two(a: SearchBeam | None, b: SearchBeam | None, beams: bool) -> SearchBeam | None:
    if a is None or b is None:
        return a or b
    if a == b:
        # ``get_combined_beam`` of equal beams keeps the first (the second only where the first's dependency
        # is ``NotSpecified``, which no beam of a choice's making has)
        return a
    if a.is_prev_frame and not b.is_prev_frame:
        return b
    if b.is_prev_frame and not a.is_prev_frame:
        return a
    if not beams and a.is_prev_frame and b.is_prev_frame and a.next_frame and b.next_frame:
        newer = _combine_two(a.next_frame, b.next_frame, False)
        return a if newer == a.next_frame else b
    if a.is_prev_frame and b.is_prev_frame and a.next_frame and b.next_frame:
        # both previous frames: compare the frames they come from, then (``used_next_frame``) whether
        # one previous frame is in the other's next frame's dependencies (``prev:out`` and ``prev:t``
        # with ``t -> prev:out``: ``prev:out``)
        ka, kb = a.next_frame.chain_key, b.next_frame.chain_key
        if b.next_frame.name in ka:
            return a
        if a.next_frame.name in kb:
            return b
        if a.name in kb:
            return a
        if b.name in ka:
            return b
        raise CombineError(a, b)
    if a.name in b.chain_key:
        return b
    if b.name in a.chain_key:
        return a
    raise CombineError(a, b)


def combine_beams(beams: list[SearchBeam | None]) -> SearchBeam | None:
    """RETURNN's ``SearchBeam.get_combined_beam``: None is neutral, a prev-frame beam loses against a
    current-frame one, otherwise the newer beam (the one whose dependency chain holds the other) wins.

    >>> prev = SearchBeam("output/output", 12).copy_as_prev_frame()
    >>> combine_beams([None, prev, SearchBeam("output/output", 12, prev)]).name
    'output/output'
    """
    result: SearchBeam | None = None
    for beam in beams:
        if beam is None or beam is result:
            continue
        result = beam if result is None else _combine_two(result, beam, True)
    return result


def combine_choices(chains: list[SearchBeam | None]) -> SearchBeam | None:
    """Search choices (chains of choice owners) ordered as ``SearchChoices.compare`` orders them:
    as :func:`combine_beams`, but two previous frames compare only by the frames they come from (the
    extra ``used_next_frame`` rule of ``get_combined_beam`` is for beams)."""
    result: SearchBeam | None = None
    for chain in chains:
        if chain is None or chain is result:
            continue
        result = chain if result is None else _combine_two(result, chain, False)
    return result

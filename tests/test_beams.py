"""SearchBeam and RETURNN's beam combination rule (``SearchBeam.get_combined_beam``, spec §5.2)."""

from __future__ import annotations

import pytest

from searchgraph.analysis.beams import CombineError, SearchBeam, combine_beams

PREV = SearchBeam("output/output", 12).copy_as_prev_frame()
OUT = SearchBeam("output/output", 12, PREV)


class TestSearchBeam:
    def test_equality_is_by_name(self) -> None:
        assert SearchBeam("a", 3) == SearchBeam("a", 5)
        assert len({SearchBeam("a", 3), SearchBeam("a", 5)}) == 1

    def test_prev_frame_name_and_link(self) -> None:
        assert PREV.name == "output/prev:output"
        assert PREV.is_prev_frame and not OUT.is_prev_frame
        assert PREV.dependency is None and PREV.next_frame is not None
        assert PREV.copy_as_prev_frame() is PREV

    def test_root_level_prev_name(self) -> None:
        assert SearchBeam("choice", 4).copy_as_prev_frame().name == "prev:choice"

    def test_chain_follows_dependencies(self) -> None:
        c1 = SearchBeam("output/choice1", 3, SearchBeam("output/prev:choice2", 5))
        c2 = SearchBeam("output/choice2", 5, c1)
        assert c2.chain == ["output/choice2", "output/choice1", "output/prev:choice2"]


class TestCombineBeams:
    def test_none_is_neutral(self) -> None:
        assert combine_beams([]) is None
        assert combine_beams([None, None]) is None
        assert combine_beams([None, OUT, None]) is OUT

    def test_current_frame_wins_over_prev_frame(self) -> None:
        other_prev = SearchBeam("output/prev:other", 2)
        assert combine_beams([other_prev, OUT]) is OUT

    def test_newer_beam_wins(self) -> None:
        c1 = SearchBeam("output/choice1", 3, PREV)
        c2 = SearchBeam("output/choice2", 5, c1)
        assert combine_beams([c1, c2]) is c2
        assert combine_beams([c2, c1]) is c2

    def test_same_name_prefers_the_one_with_dependency(self) -> None:
        bare = SearchBeam("output/output", 12)
        assert combine_beams([bare, OUT]).dependency is PREV
        assert combine_beams([OUT, bare]).dependency is PREV

    def test_unrelated_beams_cannot_be_combined(self) -> None:
        a = SearchBeam("output/a", 3, SearchBeam("output/prev:a", 3))
        b = SearchBeam("output/b", 3, SearchBeam("output/prev:b", 3))
        with pytest.raises(CombineError, match="Cannot combine beams"):
            combine_beams([a, b])

"""SearchBeam and RETURNN's beam combination rule (``SearchBeam.get_combined_beam``, spec §5.2)."""

from __future__ import annotations

import pytest

from searchgraph.analysis.beams import CombineError, SearchBeam, combine_beams, combine_choices

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

    def test_same_name_keeps_the_first(self) -> None:
        # ``SearchBeam.get_combined_beam``: of equal beams the first, whatever dependency each has set
        bare = SearchBeam("output/output", 12)
        assert combine_beams([bare, OUT]) is bare
        assert combine_beams([OUT, bare]) is OUT

    def test_unrelated_beams_cannot_be_combined(self) -> None:
        a = SearchBeam("output/a", 3, SearchBeam("output/prev:a", 3))
        b = SearchBeam("output/b", 3, SearchBeam("output/prev:b", 3))
        with pytest.raises(CombineError, match="Cannot combine beams"):
            combine_beams([a, b])

    def test_two_previous_frames_by_the_frames_they_come_from(self) -> None:
        c1 = SearchBeam("output/choice1", 3, SearchBeam("output/prev:choice2", 5))
        c2 = SearchBeam("output/choice2", 5, c1)
        p1, p2 = c1.copy_as_prev_frame(), c2.copy_as_prev_frame()
        # choice2 depends on choice1: its previous frame is the newer one
        assert combine_beams([p1, p2]) is p2
        assert combine_beams([p2, p1]) is p2

    def test_two_previous_frames_where_one_is_in_the_others_dependencies(self) -> None:
        # get_combined_beam's used_next_frame rule: prev:choice1 is a dependency of choice2's frame
        c1 = SearchBeam("output/choice1", 3)
        c2 = SearchBeam("output/choice2", 5, SearchBeam("output/prev:choice1", 3))
        p1, p2 = c1.copy_as_prev_frame(), c2.copy_as_prev_frame()
        assert combine_beams([p1, p2]) is p1
        assert combine_beams([p2, p1]) is p1


class TestCombineChoices:
    def test_like_beams_for_frames_that_depend_on_each_other(self) -> None:
        c1 = SearchBeam("output/choice1", 3, PREV)
        c2 = SearchBeam("output/choice2", 5, c1)
        assert combine_choices([c1, None, c2]) is c2

    def test_two_previous_frames_compare_only_by_their_frames(self) -> None:
        # SearchChoices.compare has no used_next_frame rule: these cannot be ordered
        c1 = SearchBeam("output/choice1", 3)
        c2 = SearchBeam("output/choice2", 5, SearchBeam("output/prev:choice1", 3))
        with pytest.raises(CombineError):
            combine_choices([c1.copy_as_prev_frame(), c2.copy_as_prev_frame()])

"""TensorFlow side of searchgraph: beam re-selection and tiling on real tensors.

The only package of searchgraph that imports TensorFlow; import it explicitly
(``import searchgraph.tf``), nothing else pulls it in.
"""

from .backtrack import backtrack
from .beams import compose_src_beams, select_src_beams, tile_to_beam
from .execute import execute_input, execute_plan
from .search import BeamSearch, SearchResult, beam_search

__all__ = ["BeamSearch", "SearchResult", "backtrack", "beam_search", "compose_src_beams", "execute_input",
           "execute_plan", "select_src_beams", "tile_to_beam"]

"""Tokens of a captured search: RETURNN's vocabulary of a data key, and how it joins labels.

:func:`~searchgraph.search.returnn.capture_search` stores, per sparse data key with a vocabulary,
the labels RETURNN's ``Vocabulary`` (or ``BytePairEncoding``, ``SentencePieces``, ...) holds for it
in ``trace.meta["vocabs"]``. RETURNN writes a hypothesis as ``Vocabulary.get_seq_labels``: the
labels joined by spaces. :meth:`TraceVocab.join` also merges BPE pieces (``"ab@@ c"`` -> ``"abc"``)
and SentencePiece's ``▁`` word starts, the way the text reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TraceVocab", "input_vocab", "target_vocab"]

_BPE_MARK = "@@"
_SPM_MARK = "\u2581"


@dataclass(frozen=True)
class TraceVocab:
    """Labels of one data key, as RETURNN's vocabulary class ``kind`` has them."""

    labels: tuple[str, ...]
    kind: str = "Vocabulary"

    @classmethod
    def from_meta(cls, entry: Mapping[str, Any]) -> TraceVocab:
        """From one ``trace.meta["vocabs"][KEY]`` entry."""
        return cls(labels=tuple(str(x) for x in entry["labels"]), kind=str(entry.get("class", "Vocabulary")))

    def token(self, label: int) -> str:
        """The label's string (``<id>`` for an id outside the vocabulary)."""
        return self.labels[label] if 0 <= label < len(self.labels) else f"<{label}>"

    def tokens(self, labels: Iterable[int]) -> list[str]:
        return [self.token(int(x)) for x in labels]

    def returnn_text(self, labels: Iterable[int]) -> str:
        """As ``Vocabulary.get_seq_labels`` (what ``rnn.py ++task search`` writes): joined by spaces."""
        if self.kind == "CharacterTargets":
            return "".join(self.tokens(labels))
        return " ".join(self.tokens(labels))

    def join(self, labels: Iterable[int]) -> str:
        """The text: BPE pieces (``@@``) merged, SentencePiece word starts (``▁``) as spaces."""
        text = self.returnn_text(labels)
        if self.kind == "BytePairEncoding" or _BPE_MARK + " " in text + " ":
            text = (text + " ").replace(_BPE_MARK + " ", "").rstrip()
            text = text.removesuffix(_BPE_MARK)
        if self.kind == "SentencePieces" or _SPM_MARK in text:
            text = text.replace(" ", "").replace(_SPM_MARK, " ").strip()
        return text


def _vocab(meta: Mapping[str, Any], key: str | None) -> TraceVocab | None:
    vocabs = meta.get("vocabs")
    if not isinstance(vocabs, Mapping) or key is None or key not in vocabs:
        return None
    return TraceVocab.from_meta(vocabs[key])


def target_vocab(meta: Mapping[str, Any]) -> TraceVocab | None:
    """The vocabulary RETURNN uses for the searched target (``meta["target"]``), if recorded."""
    return _vocab(meta, meta.get("target"))


def input_vocab(meta: Mapping[str, Any], key: str = "data") -> TraceVocab | None:
    """The vocabulary of an input data key (sparse inputs: the tokens of a heat map's columns)."""
    return _vocab(meta, key)

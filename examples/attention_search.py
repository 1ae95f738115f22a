"""Beam search over a small attention decoder written in plain TensorFlow, with searchgraph.

The decoder (random weights, a toy vocabulary; label 0 is the end of sentence) is described as a
step graph: one frame of decoding, in RETURNN's net-dict form, with Python callables as nodes.
searchgraph works out which beam every node is in and how to translate its inputs (the encoder
is tiled into the beam once, before the loop; the state is re-selected at the end of each
frame), runs the loop in one ``tf.function`` and prints the n-best lists.

    .venv/bin/python examples/attention_search.py [--beam 4] [--batch 2] [--max-len 12] [--seed 0]
                                                   [--plan]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import tensorflow as tf

from searchgraph.search.stepgraph import describe
from searchgraph.tf.search import BeamSearch

VOCAB = ["</s>", "the", "a", "cat", "dog", "sat", "ran", "on", "mat", "home", "quickly", "."]
HIDDEN, ENC_TIME = 16, 7


def decoder_step(seed: int) -> dict:
    """One decoding frame as a step graph (weights from ``seed``)."""
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> tf.Tensor:
        return tf.constant(rng.normal(scale=1.0 / np.sqrt(shape[0]), size=shape).astype(np.float32))

    emb, w_in, w_rec = weight(len(VOCAB), HIDDEN), weight(2 * HIDDEN, HIDDEN), weight(HIDDEN, HIDDEN)
    w_query, w_out = weight(HIDDEN, HIDDEN), weight(2 * HIDDEN, len(VOCAB))

    def cell(y: tf.Tensor, s: tf.Tensor, ctx: tf.Tensor) -> tf.Tensor:
        """The decoder state: previous label, previous state and previous attention context."""
        x = tf.concat([tf.gather(emb, y), ctx], axis=-1)
        return tf.tanh(x @ w_in + s @ w_rec)

    def attention(s: tf.Tensor, enc: tf.Tensor) -> tf.Tensor:
        """Dot-product attention of the state over the encoder frames: the context vector."""
        energy = tf.einsum("bth,bh->bt", enc, s @ w_query)
        return tf.einsum("bt,bth->bh", tf.nn.softmax(energy), enc)

    bias = tf.constant([1.5] + [0.0] * (len(VOCAB) - 1))  # "</s>" a little more likely

    def readout(s: tf.Tensor, ctx: tf.Tensor) -> tf.Tensor:
        return tf.nn.log_softmax(tf.concat([s, ctx], axis=-1) @ w_out * 3.0 + bias)

    zeros = np.zeros(HIDDEN, np.float32)
    return {
        "s": {"fn": cell, "from": ["prev:output", "prev:s", "prev:ctx"], "initial": zeros},
        "ctx": {"fn": attention, "from": ["s", "base:enc"], "initial": zeros},
        "logp": {"fn": readout, "from": ["s", "ctx"]},
        "output": {"class": "choice", "from": "logp", "beam_size": 4, "input_type": "log_prob"},
        "end": {"fn": lambda y: tf.equal(y, 0), "from": ["output"]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plan", action="store_true", help="also print beams and translations per node")
    args = ap.parse_args(argv)

    step = decoder_step(args.seed)
    step["output"]["beam_size"] = args.beam
    search = BeamSearch(step, inputs=["enc"], max_len=args.max_len)
    if args.plan:
        print(describe(search.program), end="\n\n")
    enc = np.random.default_rng(args.seed + 1).normal(size=(args.batch, ENC_TIME, HIDDEN)).astype(np.float32)
    result = search({"enc": enc})
    print(f"{int(result.frames)} frames, beam {args.beam}")
    for b in range(args.batch):
        print(f"sentence {b}:")
        for rank, (labels, score) in enumerate(result.nbest(b, "output"), 1):
            words = " ".join(VOCAB[i] for i in labels)
            print(f"  {rank}. {score:8.4f}  {words}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

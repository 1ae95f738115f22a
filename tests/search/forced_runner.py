"""Forced decoding with RETURNN: a loop layer's values for given target sequences (a test helper).

``python forced_runner.py CONFIG CHECKPOINT LAYER IN.npz OUT.npz``: builds the config's network
with RETURNN (not in search mode; the ``choice`` layer takes the target, as in training), loads the
checkpoint, feeds ``data``/``data_len`` and ``classes``/``classes_len`` from ``IN.npz`` and writes
LAYER's output (batch-major, ``[batch, T_out, ...]``) to ``OUT.npz`` as ``values``.
"""

from __future__ import annotations

import sys

import numpy as np


def main(argv: list[str]) -> int:
    config_path, checkpoint, layer, in_path, out_path = argv[1:]
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from returnn.config import Config
    from returnn.tf.network import ExternData, TFNetwork
    from returnn.util.basic import BehaviorVersion

    config = Config()
    config.load_file(config_path)
    BehaviorVersion.set(config.int("behavior_version", 0))
    network = config.typed_value("network")
    rec, local = layer.split("/", 1)
    network[rec]["unit"][local]["is_output_layer"] = True
    given = dict(np.load(in_path))
    with tf.Graph().as_default() as graph:
        ext = ExternData()
        ext.init_from_config(config, auto_create_placeholders=True)
        net = TFNetwork(config=config, extern_data=ext, search_flag=False, train_flag=False, eval_flag=True)
        net.construct_from_dict(network)
        out = net.get_layer(layer).output.copy_as_batch_major()
        feed = {}
        for key in ("data", "classes"):
            data = ext.data[key]
            feed[data.placeholder] = given[key]
            feed[data.get_sequence_lengths()] = given[key + "_len"]
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            net.load_params_from_file(checkpoint, session=session)
            values = session.run(out.placeholder, feed_dict=feed)
    np.savez(out_path, values=values, dims=np.array(out.get_batch_axes_short_description()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

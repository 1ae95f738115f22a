"""A RETURNN layer class kept outside the config (``--layer-classes tests/configs/sg_layers.py``): its
output template forgets the beam of its input."""

from returnn.tf.layers.basic import LayerBase
from returnn.tf.util.data import Data


class HalfLayer(LayerBase):
    """out = in / 2; the template is built by hand, without the input's beam."""

    layer_class = "sg_half"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.output.placeholder = 0.5 * self.sources[0].output.placeholder

    @classmethod
    def get_out_data_from_opts(cls, name, sources, **kwargs):
        src = sources[0].output
        return Data(name=f"{name}_output", shape=src.shape, dim=src.dim, dtype=src.dtype,
                    batch_dim_axis=src.batch_dim_axis)

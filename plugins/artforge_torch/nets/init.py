"""Weight initialisation as in DCGAN (Radford et al. 2015) and pix2pix/CycleGAN: conv and
linear weights from N(0, 0.02), biases 0, normalisation scales from N(1, 0.02).

The other ``kind`` values follow ``init_weights`` of the reference pytorch-CycleGAN-and-pix2pix
code (xavier, kaiming, orthogonal); normalisation layers always get N(1, gain).
"""

from __future__ import annotations

from torch import nn

INIT_KINDS = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise ``module`` in place and return it.

    ``kind``: ``normal`` N(0, gain) (the DCGAN/pix2pix default), ``xavier`` (normal, with
    ``gain``), ``kaiming`` (fan-in, for ReLU) or ``orthogonal`` (with ``gain``).
    """
    if kind not in INIT_KINDS:
        raise ValueError(f"unknown init {kind!r}; use one of {', '.join(INIT_KINDS)}")

    def init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = getattr(m, "weight_orig", m.weight)  # spectral norm keeps the raw weight here
            if kind == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, gain)

    module.apply(init)
    return module

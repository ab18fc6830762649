"""Weight initialisation of DCGAN and pix2pix: N(0, 0.02) convolutions, BatchNorm N(1, 0.02)."""

from __future__ import annotations

from torch import nn


def init_weights(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """Initialise every conv/linear weight from N(0, gain) and norm scales from N(1, gain)."""

    def init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = getattr(m, "weight_orig", m.weight)  # spectral norm keeps the raw weight here
            nn.init.normal_(weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif (
            isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm))
            and m.weight is not None
        ):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, gain)

    module.apply(init)
    return module

"""Small building blocks shared by the networks: normalisation layers by name and optional
spectral normalisation."""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "instance", "layer", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A 2-d normalisation layer by name.

    ``batch``: BatchNorm2d; ``instance``: InstanceNorm2d without affine parameters or running
    statistics (as in the CycleGAN/pix2pix reference code); ``layer``: layer normalisation
    over (C, H, W) per sample (GroupNorm with one group), the WGAN-GP critic's choice
    (Gulrajani et al. 2017); ``none``: identity.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use one of {', '.join(NORMS)}")


def maybe_spectral_norm(enabled: bool):
    """``nn.utils.spectral_norm`` (Miyato et al. 2018) when ``enabled``, else the identity."""
    return nn.utils.spectral_norm if enabled else (lambda m: m)

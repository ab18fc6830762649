"""Colour preservation by luminance-only transfer (Gatys, Bethge, Hertzmann & Shechtman 2016,
"Preserving color in neural artistic style transfer", section 2.2).

The style image's luminance is matched to the content's (mean and standard deviation), the
transfer runs on luminance images alone (replicated to three channels for the CNN), and the
result's luminance is recombined with the content image's chrominance in YIQ space.
"""

from __future__ import annotations

import torch

_RGB2YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W RGB in [0, 1] -> YIQ (Y in [0, 1])."""
    m = _RGB2YIQ.to(x)
    return torch.einsum("ij,njhw->nihw", m, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    m = torch.linalg.inv(_RGB2YIQ.double()).to(x)
    return torch.einsum("ij,njhw->nihw", m, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luminance (Y of YIQ) of an RGB batch."""
    return rgb_to_yiq(x)[:, :1]


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Shift and scale the style luminance to the content luminance's mean and std."""
    ms, ss = style_y.mean(), style_y.std().clamp_min(1e-6)
    mc, sc = content_y.mean(), content_y.std()
    return ((style_y - ms) * (sc / ss) + mc).clamp(0, 1)


def gray3(y: torch.Tensor) -> torch.Tensor:
    """A luminance channel as a three-channel (grey) image for the feature network."""
    return y.expand(-1, 3, -1, -1).contiguous()


def combine(result_y: torch.Tensor, content_rgb: torch.Tensor) -> torch.Tensor:
    """The stylized luminance with the content's chrominance (I and Q), back in RGB."""
    yiq = rgb_to_yiq(content_rgb)
    if yiq.shape[-2:] != result_y.shape[-2:]:
        yiq = torch.nn.functional.interpolate(
            yiq, size=result_y.shape[-2:], mode="bicubic", align_corners=False
        )
    return yiq_to_rgb(torch.cat([result_y[:, :1], yiq[:, 1:]], dim=1)).clamp(0, 1)

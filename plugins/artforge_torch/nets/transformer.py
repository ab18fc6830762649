"""The image-transformation network of fast (feed-forward) style transfer.

Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016, in the variant of pytorch/examples ``fast_neural_style``:
reflection-padded convolutions, instance normalisation instead of batch normalisation
(Ulyanov et al. 2016), 5 residual blocks, and nearest-neighbour upsampling + convolution
instead of transposed convolutions (no checkerboard artefacts).

Input and output are (N, 3, H, W) images in [0, 1] (pytorch/examples works in 0-255; the
output here is not clamped: clamp when converting to pixels). Any H, W >= 5 works: the
decoder upsamples to the encoder's sizes, so the output always has the input's size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvLayer(nn.Module):
    """Reflection padding by kernel_size // 2, then a convolution."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ResidualBlock(nn.Module):
    """x + [conv3x3, IN, ReLU, conv3x3, IN](x), as recommended by Gross & Wilber 2016."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling to ``size``, then a reflection-padded convolution."""

    def __init__(self, cin: int, cout: int, kernel_size: int):
        super().__init__()
        self.conv = ConvLayer(cin, cout, kernel_size)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class TransformerNet(nn.Module):
    """Images (N, channels, H, W) in [0, 1] -> stylised images of the same size in [0, 1].

    ``width`` is the number of filters of the first layer (32 in the paper; the next
    levels have 2x and 4x as many); ``n_blocks`` residual blocks (5).
    """

    def __init__(self, width: int = 32, n_blocks: int = 5, channels: int = 3):
        super().__init__()
        self.config = {"width": width, "n_blocks": n_blocks, "channels": channels}
        w = width
        # encoder; state sizes: w x H x W, 2w x H/2 x W/2, 4w x H/4 x W/4
        self.conv1 = ConvLayer(channels, w, 9)
        self.in1 = nn.InstanceNorm2d(w, affine=True)
        self.conv2 = ConvLayer(w, 2 * w, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(2 * w, affine=True)
        self.conv3 = ConvLayer(2 * w, 4 * w, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(4 * w, affine=True)
        self.res = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(n_blocks)])
        # decoder; state sizes: 2w x H/2 x W/2, w x H x W, channels x H x W
        self.deconv1 = UpsampleConvLayer(4 * w, 2 * w, 3)
        self.in4 = nn.InstanceNorm2d(2 * w, affine=True)
        self.deconv2 = UpsampleConvLayer(2 * w, w, 3)
        self.in5 = nn.InstanceNorm2d(w, affine=True)
        self.deconv3 = ConvLayer(w, channels, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = F.relu(self.in1(self.conv1(x)))
        y2 = F.relu(self.in2(self.conv2(y1)))
        y = F.relu(self.in3(self.conv3(y2)))
        y = self.res(y)
        y = F.relu(self.in4(self.deconv1(y, y2.shape[-2:])))
        y = F.relu(self.in5(self.deconv2(y, y1.shape[-2:])))
        return self.deconv3(y)

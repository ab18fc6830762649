"""The colour network on PyTorch: each pixel's colour mapped on its own (1x1 convolutions)."""

from torch import nn


class ColourNet(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, 3, H, W) in [-1, 1], any H and W."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 1),  # state size: width x H x W
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 3, 1),  # state size: 3 x H x W
            nn.Tanh(),
        )

    def forward(self, x):
        return self.net(x)

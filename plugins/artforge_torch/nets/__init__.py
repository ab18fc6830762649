"""Networks and losses of the PyTorch backend (pure torch; no artforge imports).

Import the submodule you need: ``nets.pix2pix``, ``nets.dcgan``, ``nets.cyclegan``,
``nets.sr``, ``nets.features``, ``nets.transformer``, ``nets.losses``, ``nets.init``.
Every image network takes and returns NCHW float tensors in [-1, 1] unless its docstring
says otherwise (the SR and style networks work in [0, 1]).
"""


def count_parameters(module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

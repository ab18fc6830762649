"""The PyTorch backend of artforge (registration in :mod:`artforge_torch.plugin`).

OpenMP threads that wait at a barrier sleep instead of spinning. libgomp reads the policy
once, when torch loads, so it is set here, before any submodule imports torch (the plugin
host imports this package long before a step does). Spinning workers make a shared or
oversubscribed CPU several times slower: a pix2pix iteration (64x64, batch 8, ngf 32, two
threads) took 1.1-4.7 s with the default spin, 0.35-0.65 s with PASSIVE and 0.3-0.4 s on one
thread while other jobs shared the two cores. A policy set by the user is kept.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

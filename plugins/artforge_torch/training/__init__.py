"""The reusable GAN trainer core of the PyTorch backend.

:class:`GANTrainer` owns everything that is the same for every GAN: the device and mixed
precision (:mod:`.device`), the epoch loop with deterministic per-epoch data order, learning
rate schedules (constant, then linear decay), an exponential moving average of a generator,
loss curves recorded through ``ctx.record``, fixed-input sample grids, atomic full-state
checkpoints with resume (:mod:`.checkpoint`), and the divergence guard (stop, or roll back to
the last good checkpoint with lower learning rates).

A model subclasses it and fills in four extension points:

- ``build()``: create ``self.nets`` (name -> module), ``self.opts`` (name -> optimiser) and
  optionally ``self.ema_of`` (the name of the generator to average);
- ``train_step(batch) -> dict[str, float]``: one iteration; the dict's keys become curves
  (``loss_G``, ``loss_D``, ...) and ``loss_D`` feeds the collapse guard;
- ``sample_grid() -> np.ndarray``: an uint8 image drawn from fixed inputs;
- ``export(ctx) -> dict[str, Artifact]``: the step's model outputs.

``data`` is any object with ``batches_per_epoch(batch_size)`` and
``epoch(batch_size, generator)`` yielding batches (see :mod:`artforge_torch.data`).
"""

from .trainer import EMA, DivergenceGuard, GANTrainer

__all__ = ["EMA", "DivergenceGuard", "GANTrainer"]

"""The PyTorch runtime of the GAN training driver.

The loop itself is backend-free: :class:`artforge.training.GANDriver` (epochs and iterations,
the learning-rate schedule, constant then linear decay, the divergence guard with stop or
rollback to the last good checkpoint with lower learning rates, loss curves through
``ctx.record``, sample-grid, sample-quality and checkpoint cadence, resume). :class:`GANTrainer`
supplies its runtime: the device and mixed precision (:mod:`.device`), networks and
optimisers, the train step with an exponential moving average of a generator, each epoch's
batches (deterministic per epoch), learning rates, atomic full-state checkpoints
(:mod:`.checkpoint`), fixed-input sample grids, data-parallel training (:mod:`.distributed`).

A model subclasses it and fills in four extension points:

- ``build()``: create ``self.nets`` (name -> module), ``self.opts`` (name -> optimiser) and
  optionally ``self.ema_of`` (the name of the generator to average);
- ``train_step(batch) -> dict[str, float]``: one iteration; the dict's keys become curves
  (``loss_G``, ``loss_D``, ...) and ``loss_D`` feeds the collapse guard;
- ``sample_grid() -> np.ndarray``: an uint8 image drawn from fixed inputs;
- ``export(ctx) -> dict[str, Artifact]``: the step's model outputs;
- optionally ``evaluate() -> dict[str, float]``: sample-quality scores at each sampled
  epoch, recorded as curves over epochs (DCGAN's ``eval_data``).

``data`` is any object with ``batches_per_epoch(batch_size)`` and
``epoch(batch_size, generator)`` yielding batches (see :mod:`artforge_torch.data`).

What a subclass gets: ``self.p`` (the step's ``TrainGanParams``), ``self.data``, ``self.rt``
(device, ``rt.autocast()``, ``rt.use_scaler``), ``self.scaler`` (a GradScaler, a no-op
unless fp16), ``self.compiled[name]`` (the network to call in ``train_step``: the
``torch.compile``-d one when asked), ``self.to_device(x)`` (device + channels_last),
``self.ema.shadow`` and ``self.iteration``/``self.epoch``. Class attributes to override:
``checkpoint_name`` and ``curve_points`` (about how many points a loss curve keeps).

Determinism (the resume contract): draw randomness only from the global torch RNG (saved
in every checkpoint) or from the per-epoch ``generator`` handed to ``data.epoch``; then an
interrupted run resumed from its last checkpoint gives the same weights, bit for bit on the
CPU, as an uninterrupted one (``tests/torch/test_trainer.py``). Anything else a model keeps
across iterations (an image pool, say) must go into ``state()``/``load_state()``: extend both.

Adding a model to the ``train-gan`` step: its name in ``GanModel`` and its checks in
``artforge/schemas/gan.py``; a ``train_<model>(ctx, p)`` function in ``TRAINERS`` of
:mod:`artforge_torch.gan_steps` (build the data, ``fit()``, ``export()``, publish
``copy_samples``); its trainer class in ``TRAINERS`` of :mod:`artforge_torch.features.gan`
(the registry); for ``translate``, a builder in ``ARCHS`` of :mod:`artforge_torch.gan_steps`
that rebuilds the generator from the model artifact's meta.

A plugin adds a model without touching artforge: a subclass registered with
``register_trainers(name, "pkg.module:Class", backend="torch", data="paired" | "unpaired" |
"images")`` is a ``train-gan`` model (:mod:`artforge_torch.registered` builds its data and
runs it; docs/plugins.md, ``register_trainers``).
"""

from .trainer import EMA, DivergenceGuard, GANTrainer

__all__ = ["EMA", "DivergenceGuard", "GANTrainer"]

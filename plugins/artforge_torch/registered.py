"""The training data ``train-gan`` builds for a registered GAN trainer (``register_trainers``
with ``data=``; the built-in models are registered the same way).

The contract (docs/plugins.md, ``register_trainers``):

- a class ``T(ctx, params, data)``, usually a subclass of
  :class:`artforge_torch.training.GANTrainer` filling in ``build``, ``train_step``,
  ``sample_grid`` and ``export``: the step builds ``data`` the way it does for the built-in
  model of the same data kind, calls ``fit()``, then ``export(ctx)`` (the outputs, with
  ``generator``) and publishes ``copy_samples(ctx)`` as ``samples`` when the trainer has it;
- or a function ``run(ctx, params) -> outputs`` that does all of it itself.

``data`` kinds: ``paired`` (:class:`artforge_torch.data.PairedData`, as pix2pix: ``source``/
``target`` sets paired by file name, or an aligned ``folder``), ``unpaired``
(:class:`artforge_torch.cyclegan.UnpairedData`, as cyclegan), ``images``
(:class:`artforge_torch.dcgan.ImageData`, as dcgan; with the set's labels when it has them).
"""

from __future__ import annotations

from typing import Any

from artforge.gan_steps import registered_data, unpaired_images


def build_data(ctx: Any, p: Any, kind: str) -> tuple[Any, str]:
    """The training data of ``kind`` from the step's parameters, as the built-in models
    build theirs, and a few words on it for the log (:func:`artforge.gan_steps.registered_data`
    with this backend's data classes)."""

    def paired(load: int) -> Any:
        from .data import PairedData, paired_from_folder, paired_from_sets

        if p.folder:
            _, a, b = paired_from_folder(ctx.resolve_path(p.folder), p.direction)
        else:
            _, a, b = paired_from_sets(ctx.images(p.source), ctx.images(p.target))
        return PairedData(a, b, p.image_size, load, p.flip)

    def unpaired(load: int) -> Any:
        from .cyclegan import UnpairedData

        a, b = unpaired_images(ctx, p)
        return UnpairedData(a, b, p.image_size, load, p.flip)

    def images(imgs: list, labels: list | None) -> Any:
        from .dcgan import ImageData

        return ImageData(imgs, labels, p.image_size, p.flip)

    return registered_data(ctx, p, kind, paired=paired, unpaired=unpaired, images=images)

"""``train-gan`` with a GAN trainer a plugin registered for the Keras backend
(``register_trainers`` with ``data=`` and ``backend="keras"``).

The contract is the PyTorch backend's (:mod:`artforge.components`, docs/plugins.md): a class
``T(ctx, params, data)``, usually a subclass of
:class:`artforge_keras.training.trainer.GANTrainer` (``build`` sets ``self.model``, a
compiled ``GANModel``; ``sample_grid``; ``export``), or a function
``run(ctx, params) -> outputs``. ``data`` kinds: ``paired``
(:class:`artforge_keras.data.PairedData`), ``unpaired``
(:class:`artforge_keras.cyclegan.UnpairedData`), ``images``
(:class:`artforge_keras.dcgan.ImageData`, with the set's labels when it has them), built as
for pix2pix, cyclegan and dcgan.
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
        return PairedData(a, b, p.image_size, load, p.flip, seed=ctx.seed)

    def unpaired(load: int) -> Any:
        from .cyclegan import UnpairedData

        a, b = unpaired_images(ctx, p)
        return UnpairedData(a, b, p.image_size, load, p.flip, seed=ctx.seed)

    def images(imgs: list, labels: list | None) -> Any:
        from .dcgan import ImageData

        return ImageData(imgs, labels, p.image_size, p.flip, seed=ctx.seed)

    return registered_data(ctx, p, kind, paired=paired, unpaired=unpaired, images=images)

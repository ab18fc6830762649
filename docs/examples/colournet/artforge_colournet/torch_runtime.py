"""The colour-gan trainer on PyTorch: pix2pix's training step, sample grid, checkpoints and
curves (inherited), with the colour network as the generator."""

import torch

from artforge_torch.nets.init import init_weights
from artforge_torch.nets.losses import GANLoss
from artforge_torch.pix2pix import Pix2PixTrainer
from artforge_torch.training.checkpoint import export_safetensors


class ColourGanTrainer(Pix2PixTrainer):
    def build(self):
        p = self.p
        self.g_kwargs = {"width": p.options["width"]}  # validated by ColourGanOptions
        G = init_weights(self.ctx.component("generator", "colournet")(**self.g_kwargs))
        patchgan = self.ctx.component("discriminator", "patchgan")
        D = init_weights(patchgan(6, ndf=p.ndf, n_layers=p.n_layers_d, norm=p.norm))
        self.nets = {"G": G, "D": D}
        self.opts = {
            k: torch.optim.Adam(net.parameters(), lr=lr, betas=(p.beta1, p.beta2))
            for k, net, lr in (("G", G, p.lr_g), ("D", D, p.lr_d))
        }
        self.ema_of = "G"
        self.gan = GANLoss(p.loss)

    def export(self, ctx):
        art = ctx.model_artifact("generator", "generator.safetensors")
        export_safetensors(art.path, self.generator())
        # what translate needs: the registered generator's name and its keyword arguments
        art.meta.update(
            backend="torch", model=self.p.model, arch="colournet", kwargs=self.g_kwargs, multiple=1
        )
        return {"generator": art}

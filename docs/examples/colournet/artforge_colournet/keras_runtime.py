"""The colour-gan trainer on Keras 3: pix2pix's ``keras.Model`` (its ``train_step``), sample
grid, checkpoints and curves, with the colour network as the generator."""

from artforge.api import derive_seed
from artforge_keras.nets.layers import init_weights
from artforge_keras.nets.losses import GANLoss
from artforge_keras.pix2pix import Pix2Pix, Pix2PixTrainer
from artforge_keras.training.checkpoint import save_weights_file
from artforge_keras.training.trainer import adam


class ColourGanTrainer(Pix2PixTrainer):
    def build(self):
        p, seed = self.p, self.ctx.seed
        self.g_kwargs = {"width": p.options["width"]}  # validated by ColourGanOptions
        G = self.ctx.component("generator", "colournet")(**self.g_kwargs)
        patchgan = self.ctx.component("discriminator", "patchgan")
        D = patchgan(6, ndf=p.ndf, n_layers=p.n_layers_d, norm=p.norm)
        G = init_weights(G, seed=derive_seed(seed, "G"))
        D = init_weights(D, seed=derive_seed(seed, "D"))
        self.model = Pix2Pix(G, D, seed=derive_seed(seed, "gan"))
        self.model.compile(
            g_optimizer=adam(p.lr_g, p.beta1, p.beta2, self.rt.loss_scaling),
            d_optimizer=adam(p.lr_d, p.beta1, p.beta2, self.rt.loss_scaling),
            gan_loss=GANLoss(p.loss),
            lambda_l1=p.lambda_l1,
            gp_weight=p.gp_weight,
        )
        self.base_lrs = {"G": p.lr_g, "D": p.lr_d}

    def export(self, ctx):
        art = ctx.model_artifact("generator", "generator.weights.h5")
        save_weights_file(art.path, self.generator())
        # what translate needs: the registered generator's name and its keyword arguments
        art.meta.update(
            backend="keras", model=self.p.model, arch="colournet", kwargs=self.g_kwargs, multiple=1
        )
        return {"generator": art}

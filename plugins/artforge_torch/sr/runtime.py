"""The PyTorch runtime of ``super-resolve`` (:class:`artforge.sr_learned.SRRuntime`): the
networks, a train step (Adam, pixel + optional perceptual loss, weight averaging), a forward
pass, ``.safetensors`` model files and the SRGAN phase; the step, the data, the training
loop and the tiling are the core's (:mod:`artforge.sr_learned`, :mod:`artforge.sr_train`)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from artforge.sr_learned import RuntimeBase

from ..style.util import (
    batch_to_tensor,
    describe_device,
    load_safetensors,
    load_state,
    resolve_device,
    save_safetensors,
    save_state,
)
from ..training.checkpoint import foreign


def build_net(arch: str, scale: int, config: dict[str, Any] | None = None) -> torch.nn.Module:
    from ..nets.sr import ESPCN, SRResNet

    cls = {"espcn": ESPCN, "srresnet": SRResNet}[arch]
    return cls(scale=scale, **(config or {}))


def forward_fn(net: torch.nn.Module, device: torch.device | str = "cpu"):
    """``net`` as the core's forward pass: float32 N x H x W x 3 numpy in [0, 1] -> float32
    N x sH x sW x 3 numpy."""

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).to(device)
            return net(t).float().permute(0, 2, 3, 1).cpu().numpy()

    return fn


class Session:
    """One network's training: Adam, the pixel loss (+ VGG features), the weight average."""

    def __init__(self, net, device, *, loss: str, ema_decay, perceptual, weight: float):
        from ..training import EMA

        self.net = net.to(device).train()
        self.device = device
        self.opt = torch.optim.Adam(net.parameters())
        self.pixel = F.l1_loss if loss == "l1" else F.mse_loss
        self.perceptual, self.weight = perceptual, weight
        self.averaged = EMA(net, ema_decay) if ema_decay else None

    def step(self, lo: np.ndarray, hi: np.ndarray, lr: float) -> float:
        for group in self.opt.param_groups:
            group["lr"] = lr
        x = batch_to_tensor(list(lo), self.device)
        y = batch_to_tensor(list(hi), self.device)
        out = self.net(x)
        loss = self.pixel(out, y)
        if self.perceptual is not None and self.weight > 0:
            loss = loss + self.weight * F.mse_loss(self.perceptual(out), self.perceptual(y))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.averaged is not None:
            self.averaged.update(self.net)
        return float(loss.detach())

    def save(self, path: Path, state: dict[str, Any]) -> None:
        ema = self.averaged.shadow.state_dict() if self.averaged is not None else None
        save_state(
            path, {**state, "net": self.net.state_dict(), "opt": self.opt.state_dict(), "ema": ema}
        )

    def load(self, path: Path) -> dict[str, Any] | None:
        state = load_state(path)
        if state is None:
            return None
        try:
            self.net.load_state_dict(state["net"])
            self.opt.load_state_dict(state["opt"])
            if self.averaged is not None and state.get("ema") is not None:
                self.averaged.shadow.load_state_dict(state["ema"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise foreign(path, exc) from exc
        return {k: state[k] for k in ("step", "steps") if k in state}

    def finish(self) -> None:
        if self.averaged is not None:
            self.net.load_state_dict(self.averaged.shadow.state_dict())
        self.net.eval()


class TorchSRRuntime(RuntimeBase):
    backend, model_file, state_suffix = "torch", "sr.safetensors", ".pt"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.device = resolve_device(ctx.device)
        ctx.info["device"] = describe_device(self.device)

    def scope(self):
        return contextlib.nullcontext()

    def build(self, arch: str, scale: int, config: dict | None, seed: int):
        torch.manual_seed(seed)
        return build_net(arch, scale, config).to(self.device).eval()

    def read_meta(self, path: Path) -> dict:
        return load_safetensors(path)[1]

    def load_weights(self, net, path: Path) -> None:
        net.load_state_dict(load_safetensors(path)[0])
        net.eval()

    def save(self, path: Path, net, meta: dict) -> None:
        save_safetensors(path, net.state_dict(), meta)

    def find_vgg(self, given: str | None) -> Path | None:
        from ..style.loss_net import find_weights

        return find_weights(self.ctx, given)

    def perceptual_network(self, path: Path):
        from ..style.loss_net import perceptual_network

        return perceptual_network(path, self.device)

    def session(self, net, *, loss, ema_decay, perceptual, weight) -> Session:
        return Session(
            net, self.device, loss=loss, ema_decay=ema_decay, perceptual=perceptual, weight=weight
        )

    def radius(self, net) -> int:
        from .tiled import conv_radius

        return conv_radius(net)

    def forward(self, net):
        return forward_fn(net, self.device)

    def adversarial(self, net, sampler, tag: str, **settings: Any):
        """SRGAN's adversarial phase on the shared GAN trainer (resumable checkpoints,
        divergence guard with rollback, mixed precision on CUDA)."""
        from .srgan import SamplerData, SRGANSettings, SRGANTrainer

        perceptual = settings.pop("perceptual")
        trainer = SRGANTrainer(
            self.ctx, SRGANSettings(**settings), SamplerData(sampler), net, perceptual
        )
        trainer.checkpoint_name = f"srgan{tag}.pt"
        trainer.fit()
        return trainer.nets["G"].to(memory_format=torch.contiguous_format).eval()

"""Training of super-resolution networks.

Pixel loss (L1 or MSE) with Adam, the learning rate annealed along a cosine to 1% of its
start, and an exponential moving average of the weights as the final model: with a network
that has no skip connection from its input (ESPCN), the last Adam steps otherwise leave a
random global brightness offset of a few grey levels, which costs more PSNR on smooth images
than the network gains on edges. Optional extra:

* a perceptual loss on VGG19 features (Johnson et al. 2016; SRGAN's "VGG54" conv5_4), used
  only when VGG19 ImageNet weights are found, since random features measure nothing useful;

The adversarial (SRGAN) phase runs on the shared GAN trainer: see :mod:`.srgan`.

The training state is saved to ``state_path`` every ``save_every`` seconds, so an interrupted
step resumes where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from artforge.api import Diverged

from ..style.util import batch_to_tensor, load_state, save_state
from ..training.checkpoint import foreign


@dataclass
class TrainResult:
    steps: int
    seconds: float
    final_loss: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from: int = 0


def _pixel_loss(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return F.l1_loss if kind == "l1" else F.mse_loss


def train_sr(
    net: torch.nn.Module,
    sampler: Callable[[int], tuple[np.ndarray, np.ndarray]],
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    loss: str = "l1",
    device: torch.device | str = "cpu",
    seed: int = 0,
    record: Callable[[str, float, float], None] | None = None,
    progress=None,
    max_seconds: float | None = None,
    state_path: Path | None = None,
    save_every: float = 30.0,
    perceptual: torch.nn.Module | None = None,
    perceptual_weight: float = 0.0,
    log_every: int = 10,
    prefix: str = "",
    ema_decay: float | None = 0.999,
) -> TrainResult:
    """Train ``net`` (low -> high resolution, [0, 1] pixels) on batches from ``sampler``."""
    device = torch.device(device)
    torch.manual_seed(seed)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.01)
    pixel = _pixel_loss(loss)
    averaged = None
    if ema_decay:
        from ..training import EMA

        # short runs average over a shorter window (about the last tenth of the steps)
        averaged = EMA(net, min(ema_decay, 1.0 - 10.0 / max(steps, 20)))

    start_step = 0
    state = load_state(state_path) if state_path else None
    if state and state.get("steps") == steps:
        try:
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            if averaged is not None and state.get("ema") is not None:
                averaged.shadow.load_state_dict(state["ema"])
            start_step = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise foreign(state_path, exc) from exc
    if hasattr(sampler, "reseed"):
        sampler.reseed(seed + start_step)

    t0 = time.perf_counter()
    last_save = t0
    ema: float | None = None
    losses: list[tuple[int, float]] = []
    step = start_step
    stopped = False
    for step in range(start_step, steps):
        lo, hi = sampler(batch_size)
        x = batch_to_tensor(list(lo), device)
        y = batch_to_tensor(list(hi), device)
        out = net(x)
        g_loss = pixel(out, y)
        if perceptual is not None and perceptual_weight > 0:
            g_loss = g_loss + perceptual_weight * F.mse_loss(perceptual(out), perceptual(y))
        opt.zero_grad(set_to_none=True)
        g_loss.backward()
        opt.step()
        sched.step()
        if averaged is not None:
            averaged.update(net)
        value = float(g_loss.detach())
        if not math.isfinite(value):
            raise Diverged(
                f"super-resolution training diverged at step {step + 1}: the loss is {value}",
                hint="lower lr, or use loss: l1",
            )
        ema = value if ema is None else 0.95 * ema + 0.05 * value
        if record is not None and ((step + 1) % log_every == 0 or step + 1 == steps):
            record(f"{prefix}loss", step + 1, ema)
            losses.append((step + 1, ema))
        if progress is not None:
            progress.update(1, loss=ema)
        now = time.perf_counter()
        if state_path is not None and now - last_save > save_every:
            _save(state_path, step + 1, steps, net, opt, sched, averaged)
            last_save = now
        if max_seconds is not None and now - t0 > max_seconds:
            stopped = step + 1 < steps
            break
    done = step + 1 if steps > start_step else start_step
    if averaged is not None:
        net.load_state_dict(averaged.shadow.state_dict())
    net.eval()
    return TrainResult(
        steps=done,
        seconds=time.perf_counter() - t0,
        final_loss=float(ema) if ema is not None else float("nan"),
        losses=losses,
        stopped_early=stopped,
        resumed_from=start_step,
    )


def _save(path, step, steps, net, opt, sched, averaged) -> None:
    state = {
        "step": step,
        "steps": steps,
        "net": net.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "ema": averaged.shadow.state_dict() if averaged is not None else None,
    }
    save_state(path, state)

"""Device, precision and thread settings chosen at run time (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from artforge.api import StepError


@dataclass
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None for full precision
    use_scaler: bool  # fp16 needs a gradient scaler; bf16 does not
    channels_last: bool

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def describe(self) -> dict:
        name = torch.cuda.get_device_name(self.device) if self.is_cuda else "cpu"
        return {
            "device": str(self.device),
            "device_name": name,
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
            "channels_last": self.channels_last,
            "threads": torch.get_num_threads(),
        }

    def autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)


def configure_threads() -> None:
    """One intra-op thread per physical core this process may use (torch's default counts
    physical cores; it is capped by the CPU affinity, e.g. ``taskset`` or a container's
    cpuset, so a worker never oversubscribes); OMP_NUM_THREADS set by the user wins."""
    if "OMP_NUM_THREADS" in os.environ:
        return
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    torch.set_num_threads(max(1, min(torch.get_num_threads(), usable)))


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda``/``cuda:N`` must exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise StepError(
                f"device '{spec}' was requested but CUDA is not available here",
                hint="use device: auto (falls back to the CPU) or device: cpu",
            )
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise StepError(f"device '{spec}' does not exist ({torch.cuda.device_count()} GPUs)")
        return dev
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise StepError("device 'mps' is not available here", hint="use device: auto")
        return torch.device("mps")
    return torch.device("cpu")


def runtime(spec: str = "auto", amp: str = "auto", channels_last: bool = True) -> Runtime:
    """Device plus mixed-precision policy: bf16 autocast where the GPU supports it, else fp16
    with a gradient scaler; full fp32 on the CPU (CPU autocast is slower for convolutions)."""
    configure_threads()
    dev = resolve_device(spec)
    if dev.type != "cuda" or amp == "off":
        return Runtime(dev, None, False, False)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return Runtime(dev, torch.bfloat16, False, channels_last)
    return Runtime(dev, torch.float16, True, channels_last)

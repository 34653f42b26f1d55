"""Where models run: device resolution, bfloat16 mixed precision and torch's CPU threads, for every model."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from synthpipe.errors import InputError


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device: 'cuda' was asked for but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 matrices in hardware: CUDA, or a CPU with AVX512-BF16 or AMX.

    Elsewhere bfloat16 is emulated and slower than float32, so it is only used where it pays.
    """
    if device.type == "cuda":
        return True
    return device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def compute_dtype(device: torch.device) -> torch.dtype:
    """The number format training rows and activations are held in: bfloat16 where it is native.

    Under bfloat16 autocast every matrix product rounds its input to bfloat16 anyway; holding the real rows,
    the noise and the activations in it from the start avoids a copy on the way into each product (and the
    copy of its gradient on the way back), and halves the memory the training set takes on the device.
    """
    return torch.bfloat16 if native_bfloat16(device) else torch.float32


def mixed_precision(device: torch.device, enabled: bool = True) -> torch.autocast:
    """bfloat16 autocast for the networks' matrix products where the hardware has it (no loss scaling needed)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and native_bfloat16(device))


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU thread count for the duration (None: leave it), restored afterwards: one thread spares a busy
    machine's cores the spinning of idle OpenMP threads, which can make small models many times slower."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

"""The device a run uses: ``"auto"`` (cuda, then mps, then cpu) or an explicit name.

A utility below everything else (runs' provenance reads it too): torch is imported when a
function needs it, so that ``lab --help`` stays fast.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def device_name(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available, then ``"mps"``, then ``"cpu"``; others as given."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda if available, then mps, then cpu; ``"cpu"``, ``"cuda"``,
    ``"cuda:1"``, ``"mps"`` as given. Raises ValueError for a malformed name or a device
    this machine does not have."""
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device_name(device)
    else:
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    try:
        resolved = torch.device(name)
    except RuntimeError as e:
        raise ValueError(
            f"unknown device {device!r}: expected 'auto', 'cpu', 'cuda[:i]' or 'mps'"
        ) from e
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} asked for, but this machine has "
                f"{torch.cuda.device_count()} CUDA devices"
            )
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {device!r} asked for, but MPS is not available here")
    return resolved


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (a no-op on the CPU), so timings are honest."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); cpu for a model with neither."""
    import torch

    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs oneDNN's bf16 kernels (AVX512-BF16 or AMX tiles): there
    bf16 autocast is the fast path; on an AVX2 CPU bf16 is emulated, slower than fp32."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast is a fast path on ``device``: CUDA, or a CPU with native
    bf16. Elsewhere it is emulated and slower than fp32, not worth a run or a column."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())

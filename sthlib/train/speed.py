"""TrainSpec.speed applied to a training run: bf16 autocast, channels_last memory format, torch.compile.

None of them changes what is saved: the trainer keeps the eager model (compiled callables wrap it, so state_dict
keys get no ``_orig_mod.`` prefix) and checkpoints write contiguous tensors whatever the memory format.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor

from sthlib.specs import SpeedSpec
from sthlib.validation import SpecError

AMP_DTYPES = {"bf16": torch.bfloat16}  # TrainSpec.speed.amp -> autocast dtype ("none": no autocast)


def autocast(device: torch.device, amp: str) -> AbstractContextManager[Any]:
    """The context of the forward passes: torch.autocast to the amp dtype, or nothing for amp "none"."""
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


def memory_format(speed: SpeedSpec) -> torch.memory_format:
    return torch.channels_last if speed.channels_last else torch.contiguous_format


def _probe(x: Tensor) -> Tensor:
    return torch.relu(x * 2 + 1).sum()


def check_compile(device: torch.device) -> None:
    """torch.compile compiles at the first call, deep inside the first training step: compile a tiny function on
    `device` now, so that a machine without a working toolchain (a C compiler; triton on CUDA) fails before any
    work with a SpecError on speed.compile that says what to do."""
    try:
        torch.compile(_probe, dynamic=False)(torch.ones(8, device=device))
    except Exception as error:  # inductor raises many kinds (InvalidCxxCompiler, BackendCompilerFailed, ...)
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise SpecError("speed.compile", f"torch.compile does not work on this machine's {device.type} "
                        f"({type(error).__name__}: {first})", "install a C compiler (and triton for CUDA), or set "
                        "speed.compile to false") from error  # fmt: skip


def compiled(fn: Callable[..., Tensor], speed: SpeedSpec) -> Callable[..., Tensor]:
    """`fn` compiled when speed.compile is set (after check_compile), else `fn` itself."""
    return torch.compile(fn) if speed.compile else fn

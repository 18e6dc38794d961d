"""How many images an evaluator puts through the model at once: on CUDA as many as the free memory holds (within a
floor and a cap), on CPU a fixed number. The seeded noise never depends on it: it is drawn per cell of CELL images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

CELL = 500  # images per seeded noise cell (batch_generator's key), and per forward pass on CPU
MAX_BATCH = 20_000  # images per forward pass at most: the test sets hold 10000, larger batches gain nothing
MEMORY_FRACTION = 0.5  # of the free CUDA memory one evaluation batch may take (allocator slack, other work)
IMAGE_COPIES = 4  # image-sized tensors held per image besides the forward pass: x, x_adv, its cell's noise, state
PROBE_IMAGES = 64  # images of the forward pass whose peak memory is measured


def batch_size_for(
    free_bytes: int, per_image_bytes: int, multiple: int = CELL, cap: int = MAX_BATCH, fraction: float = MEMORY_FRACTION
) -> int:
    """The largest multiple of `multiple` whose images fit in `fraction` of `free_bytes` at `per_image_bytes`
    each, at least `multiple` (the CPU size: what ran before memory was measured) and at most `cap`."""
    if per_image_bytes <= 0 or multiple <= 0:
        raise ValueError(f"per_image_bytes and multiple must be positive, got {per_image_bytes} and {multiple}")
    fits = int(max(free_bytes, 0) * fraction) // per_image_bytes
    return max(multiple, min(cap, fits) // multiple * multiple)


def free_cuda_bytes(device: torch.device) -> int:
    """Free device memory plus what PyTorch's allocator holds unused (it reuses that before asking the driver)."""
    free, _ = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def bytes_per_image(model: nn.Module, probe: Tensor) -> int:
    """CUDA memory per image of evaluating `model` on images like `probe`: the peak of a no-grad forward pass over
    the probe, per image, plus IMAGE_COPIES image-sized tensors."""
    device = probe.device
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        model(probe)
    peak = torch.cuda.max_memory_allocated(device) - before
    return max(1, math.ceil(peak / len(probe))) + IMAGE_COPIES * probe[0].numel() * probe.element_size()


def eval_batch_size(model: nn.Module, images: Tensor, multiple: int = CELL) -> int:
    """Images per forward pass for evaluating `model` on `images` (a multiple of `multiple`; `multiple` on CPU)."""
    if images.device.type != "cuda" or len(images) <= multiple:
        return multiple
    per_image = bytes_per_image(model, images[:PROBE_IMAGES])
    return batch_size_for(free_cuda_bytes(images.device), per_image, multiple)

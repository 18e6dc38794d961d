"""Checkpoints without pickle: safetensors for tensors, JSON (in the safetensors header) for everything else.

A model checkpoint is one ``.safetensors`` file whose header metadata key ``sth`` holds JSON: the format, the
architecture, its input channels and classes, the training spec, metrics and library versions. Loading reads
tensors with safetensors and never unpickles, so a checkpoint from anyone is safe to open.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

import sthlib
from sthlib.models import SimilarityNet, build_model

MODEL_FORMAT = "sth-model/1"
STATE_FORMAT = "sth-train-state/1"
_META_KEY = "sth"


class CheckpointError(ValueError):
    """A file is not a usable checkpoint; the message says why."""


def library_versions() -> dict[str, str]:
    return {
        "sthlib": sthlib.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def split_tensors(obj: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """Replace every tensor in a nested structure by a reference, collecting the tensors by name.

    Dicts with integer keys (optimizer states) are kept as lists of pairs so that the keys survive JSON.
    """
    if isinstance(obj, Tensor):
        tensors[prefix] = obj.detach().contiguous().cpu()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if obj and all(isinstance(k, int) for k in obj):
            return {"__int_keys__": [[k, split_tensors(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
        return {str(k): split_tensors(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def join_tensors(obj: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of split_tensors."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__int_keys__"}:
            return {int(k): join_tensors(v, tensors) for k, v in obj["__int_keys__"]}
        return {k: join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def write_safetensors(path: Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), so a crash never leaves a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; a checkpoint is meant to be shared like any written file
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata={_META_KEY: json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a safetensors file ({e})") from None
    if _META_KEY not in header:
        raise CheckpointError(f"{path} has no STh Lab metadata (header key {_META_KEY!r})")
    meta: dict[str, Any] = json.loads(header[_META_KEY])
    return meta


def read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    meta = read_metadata(path)
    return load_file(str(path)), meta


def save_model(path: Path, model: SimilarityNet, arch: str, num_classes: int, **meta: Any) -> None:
    """Weights and buffers of `model` plus JSON metadata (spec, metrics, anything JSON-able)."""
    header = {
        "format": MODEL_FORMAT,
        "arch": arch,
        "in_channels": _in_channels(model),
        "num_classes": num_classes,
        "versions": library_versions(),
        **meta,
    }
    write_safetensors(Path(path), dict(model.state_dict()), header)


def load_model(path: Path, map_location: str | torch.device = "cpu") -> tuple[SimilarityNet, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights; raise CheckpointError if they do not fit."""
    tensors, meta = read_safetensors(Path(path))
    if meta.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r} is not a model checkpoint ({MODEL_FORMAT})")
    try:
        model = build_model(meta["arch"], int(meta["in_channels"]), int(meta["num_classes"]))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: metadata does not describe a known architecture ({e})") from None
    load_weights(model, tensors, f"{path} ({meta['arch']})")
    return model.to(map_location), meta


def load_weights(model: SimilarityNet, tensors: dict[str, Tensor], what: str) -> None:
    """load_state_dict(strict) with a message that lists what does not fit."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if expected[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        details = [f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                   for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                   if keys]  # fmt: skip
        raise CheckpointError(f"weights do not fit the architecture of {what}; " + "; ".join(details))
    model.load_state_dict(tensors, strict=True)


def _in_channels(model: SimilarityNet) -> int:
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    return int(first_conv.in_channels)

"""The S^Th regularized trainer (PAPER.md section 3): L = CE(batch of 64) + alpha * L_reg(k pairs) per step."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sthlib.checkpoint import (
    STATE_FORMAT,
    CheckpointError,
    join_tensors,
    library_versions,
    load_weights,
    read_safetensors,
    save_model,
    split_tensors,
    write_safetensors,
)
from sthlib.losses import LOSSES
from sthlib.models import SimilarityNet, build_model
from sthlib.pairs import PairBatch
from sthlib.specs import TrainSpec
from sthlib.train.augment import crop_flip, to_inputs
from sthlib.train.callbacks import Callback, StepProgress, TrainingStopped
from sthlib.train.data import RegData, TaskData
from sthlib.train.metrics import EpochMetrics, TrainResult
from sthlib.train.schedule import learning_rate
from sthlib.train.speed import autocast, check_compile, compiled, memory_format

log = logging.getLogger(__name__)
EVAL_BATCH = 500  # images per forward pass when evaluating
EVAL_PAIRS = 512  # fixed pairs on which L_reg and the similarity correlation are measured every epoch
PREFETCH_PAIRS = 1 << 20  # pairs drawn ahead of the steps at a time (i, j int64 and a float target: 20 MB)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """'auto' or None: CUDA when present, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Trainer:
    """Trains one model from a TrainSpec. The data lives on the device as uint8 tensors; batches are shuffled
    with randperm and augmented there. ``fit()`` returns the history; the best-validation weights are kept.

    No step reads the device from the host: the epoch's pairs are drawn before its steps, the loss sums stay on
    the device and are read once per epoch, and step progress is counted on the host. spec.speed picks bf16
    autocast, channels_last and torch.compile (sthlib.train.speed)."""

    def __init__(
        self, spec: TrainSpec, device: str | torch.device | None = None, callbacks: Sequence[Callback] = ()
    ) -> None:
        self.spec = spec.validate()
        self.device = resolve_device(device)
        self.callbacks = list(callbacks)
        self.data = TaskData.load(spec, self.device)
        self.reg = RegData.load(spec, self.device) if spec.reg.enabled else None
        self.eval_pairs = None if self.reg is None else self.reg.fixed_pairs(EVAL_PAIRS, spec.seed + 1)
        self.input_scale = spec.resolved_input_scale()
        self.augment = spec.resolved_augment() == "crop_flip"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            self.model = build_model(spec.arch, spec.in_channels, self.data.num_classes).to(self.device)
        self.memory_format = memory_format(spec.speed)
        self.model.to(memory_format=self.memory_format)
        if spec.speed.compile:
            check_compile(self.device)
        # the step calls these; self.model stays the eager module (its state_dict, evaluation, checkpoints)
        self.forward = compiled(self.model, spec.speed)
        self.similarity = compiled(self.model.similarity, spec.speed)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
        )
        self.generator = torch.Generator(device=self.device).manual_seed(spec.seed)
        self.epoch = 0  # epochs completed
        self.history: list[EpochMetrics] = []
        self.best_epoch = 0
        self.best_state: dict[str, Tensor] = {}

    # ---- one step --------------------------------------------------------------------------------------------
    def _inputs(self, images: Tensor, augment: bool = False) -> Tensor:
        x = to_inputs(images, self.input_scale)
        if augment:
            x = crop_flip(x, self.generator)
        return x.contiguous(memory_format=self.memory_format)

    def step(self, batch: Tensor, pairs: PairBatch | None = None) -> dict[str, Tensor]:
        """One optimisation step on the training images at indices `batch` (and, regularized, on `pairs`, by
        default the sampler's next k); returns detached loss terms. Forward passes run under spec.speed.amp's
        autocast; the losses are computed in float32 from float32 logits and similarities."""
        amp = self.spec.speed.amp
        x = self._inputs(self.data.train_x[batch], self.augment)
        y = self.data.train_y[batch]
        with autocast(self.device, amp):
            logits = self.forward(x).float()
        ce = F.cross_entropy(logits, y)
        out = {"ce": ce.detach(), "correct": (logits.argmax(1) == y).sum()}
        loss = ce
        if self.reg is not None:
            reg = self.spec.reg
            pairs = pairs if pairs is not None else self.reg.sampler.sample(reg.pairs_per_step)
            x0, x1 = self._inputs(self.reg.images[pairs.i]), self._inputs(self.reg.images[pairs.j])
            with autocast(self.device, amp):
                pred = self.similarity(x0, x1, fused=reg.fused).float()
            reg_loss = LOSSES[reg.loss](pred, pairs.targets, reg.eps)
            loss = ce + reg.alpha * reg_loss
            out["reg_loss"] = reg_loss.detach()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return out

    # ---- epochs ----------------------------------------------------------------------------------------------
    def _train_epoch(self) -> dict[str, Any]:
        spec, n = self.spec, len(self.data.train_x)
        lr = learning_rate(spec, self.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        perm = torch.randperm(n, generator=self.generator, device=self.device)
        steps = -(-n // spec.batch_size)
        ce_sum, correct, reg_sum = (torch.zeros((), device=self.device) for _ in range(3))
        k = spec.reg.pairs_per_step
        block = max(1, PREFETCH_PAIRS // k)  # steps whose pairs are drawn at once (an epoch's, unless huge)
        drawn: PairBatch | None = None
        start = time.perf_counter()
        for step in range(steps):
            if any(cb.should_stop() for cb in self.callbacks):
                raise TrainingStopped(self.epoch)
            if self.reg is not None and step % block == 0:  # the same pairs as k per step, drawn ahead
                drawn = self.reg.sampler.sample_steps(k, min(block, steps - step))
            batch = perm[step * spec.batch_size : (step + 1) * spec.batch_size]
            out = self.step(batch, None if drawn is None else _pairs_of_step(drawn, step % block, k))
            ce_sum += out["ce"] * len(batch)
            correct += out["correct"]
            if "reg_loss" in out:
                reg_sum += out["reg_loss"]
            for cb in self.callbacks:
                cb.on_step_end(self, StepProgress(self.epoch, spec.epochs, step + 1, steps))
        seconds = time.perf_counter() - start
        images = n + (steps * 2 * spec.reg.pairs_per_step if self.reg is not None else 0)
        return {
            "lr": lr,
            "train_loss": float(ce_sum) / n,
            "train_acc": float(correct) / n,
            "reg_loss": float(reg_sum) / steps if self.reg is not None else None,
            "seconds": seconds,
            "images_per_s": images / seconds,
        }

    @torch.no_grad()
    def evaluate(self, images: Tensor, labels: Tensor) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) of the current model in eval mode: eager and float32 whatever spec.speed
        says (validation losses comparable across speed settings), inputs in the model's memory format."""
        was_training = self.model.training
        self.model.eval()
        loss, correct = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        for start in range(0, len(images), EVAL_BATCH):
            logits = self.model(self._inputs(images[start : start + EVAL_BATCH]))
            y = labels[start : start + EVAL_BATCH]
            loss += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        self.model.train(was_training)
        return float(loss) / len(images), float(correct) / len(images)

    @torch.no_grad()
    def evaluate_similarity(self) -> tuple[float | None, float | None]:
        """(L_reg, Pearson correlation of predicted and target similarity) on the fixed pairs, in eval mode."""
        if self.reg is None or self.eval_pairs is None:
            return None, None
        was_training = self.model.training
        self.model.eval()
        pairs = self.eval_pairs
        pred = self.model.similarity(self._inputs(self.reg.images[pairs.i]), self._inputs(self.reg.images[pairs.j]))
        self.model.train(was_training)
        loss = float(LOSSES[self.spec.reg.loss](pred, pairs.targets, self.spec.reg.eps))
        return loss, _pearson(pred, pairs.targets)

    def _record(self, **train: Any) -> EpochMetrics:
        valid_loss, valid_acc = self.evaluate(self.data.valid_x, self.data.valid_y)
        test_loss, test_acc = self.evaluate(self.data.test_x, self.data.test_y)
        weights = torch.softmax(self.model.layer_weights.detach(), 0).tolist()
        reg_eval_loss, sim_corr = self.evaluate_similarity()
        metrics = EpochMetrics(self.epoch, valid_loss=valid_loss, valid_acc=valid_acc, test_loss=test_loss,
                               test_acc=test_acc, layer_weights=weights, reg_eval_loss=reg_eval_loss,
                               sim_corr=sim_corr, **train)  # fmt: skip
        self.history.append(metrics)
        best = next(m for m in self.history if m.epoch == self.best_epoch)
        if not self.best_state or metrics.valid_loss < best.valid_loss:
            self.best_epoch = self.epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
            for key, value in self.best_state.items():  # channels_last weights kept in the usual layout
                self.best_state[key] = value.contiguous()
        return metrics

    def fit(self) -> TrainResult:
        """Train the remaining epochs; the untrained state counts as epoch 0 for checkpoint selection."""
        for cb in self.callbacks:
            cb.on_train_start(self)
        if not self.history:
            self._record(lr=None)
        while self.epoch < self.spec.epochs:
            train = self._train_epoch()
            self.epoch += 1
            metrics = self._record(**train)
            log.info("epoch %d/%d: %s", self.epoch, self.spec.epochs, metrics)
            for cb in self.callbacks:
                cb.on_epoch_end(self, metrics)
        result = TrainResult(best_epoch=self.best_epoch, history=list(self.history))
        for cb in self.callbacks:
            cb.on_train_end(self, result)
        return result

    # ---- checkpoints -----------------------------------------------------------------------------------------
    def best_model(self) -> SimilarityNet:
        model = build_model(self.spec.arch, self.spec.in_channels, self.data.num_classes)
        model.load_state_dict(self.best_state)
        return model.to(self.device).eval()

    def save_best(self, path: Path) -> None:
        """The kept (best-validation) weights with the spec, their metrics and the whole history."""
        best = next(m for m in self.history if m.epoch == self.best_epoch)
        save_model(Path(path), self.best_model(), self.spec.arch, self.data.num_classes,
                   spec=self.spec.to_dict(), metrics=best.to_dict(), best_epoch=self.best_epoch,
                   history=[m.to_dict() for m in self.history])  # fmt: skip

    def save_state(self, path: Path) -> None:
        """Everything needed to continue exactly: model, optimizer, best weights, pair stream and RNG state."""
        tensors: dict[str, Tensor] = {}
        split_tensors(self.model.state_dict(), "model", tensors)
        split_tensors(self.best_state, "best", tensors)
        optimizer = split_tensors(self.optimizer.state_dict(), "optimizer", tensors)
        tensors["rng.generator"] = self.generator.get_state()
        meta = {
            "format": STATE_FORMAT,
            "spec": self.spec.to_dict(),
            "epoch": self.epoch,
            "best_epoch": self.best_epoch,
            "history": [m.to_dict() for m in self.history],
            "optimizer": optimizer,
            "pair_sampler": None if self.reg is None else self.reg.sampler.state_dict(),
            "generator_device": self.device.type,
            "versions": library_versions(),
        }
        write_safetensors(Path(path), tensors, meta)

    @classmethod
    def resume(
        cls, path: Path, device: str | torch.device | None = None, callbacks: Sequence[Callback] = ()
    ) -> Trainer:
        """A trainer at the end of the epoch that `path` (written by save_state) recorded."""
        tensors, meta = read_safetensors(Path(path))
        if meta.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{path}: format {meta.get('format')!r} is not a training state ({STATE_FORMAT})")
        trainer = cls(TrainSpec.from_dict(_saved_spec(meta["spec"])), device, callbacks)
        prefixed = {k: v.to(trainer.device) for k, v in tensors.items()}
        load_weights(trainer.model, _strip(prefixed, "model."), str(path))
        trainer.best_state = _strip(prefixed, "best.")
        trainer.optimizer.load_state_dict(join_tensors(meta["optimizer"], prefixed))
        if meta.get("generator_device", "cpu") == trainer.device.type:
            trainer.generator.set_state(tensors["rng.generator"])
        else:  # CPU and CUDA generator states are not interchangeable: continue, but not bit for bit
            log.warning("resuming on %s a run saved on %s: the shuffle stream restarts", trainer.device.type,
                        meta.get("generator_device"))  # fmt: skip
            trainer.generator.manual_seed(trainer.spec.seed + int(meta["epoch"]))
        if trainer.reg is not None:
            trainer.reg.sampler.load_state_dict(meta["pair_sampler"])
        trainer.epoch, trainer.best_epoch = int(meta["epoch"]), int(meta["best_epoch"])
        trainer.history = [EpochMetrics(**m) for m in meta["history"]]
        return trainer


def _saved_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A state saved before reg.augment existed trained on the regularization images as loaded: keep it so."""
    reg = spec.get("reg") or {}
    return spec if "augment" in reg else {**spec, "reg": {**reg, "augment": "none"}}


def _pairs_of_step(drawn: PairBatch, step: int, k: int) -> PairBatch:
    """Step `step`'s k pairs of a ``PairSampler.sample_steps`` draw (slices: views, no copy, no host read)."""
    part = slice(step * k, (step + 1) * k)
    return PairBatch(i=drawn.i[part], j=drawn.j[part], targets=drawn.targets[part])


def _strip(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def _pearson(a: Tensor, b: Tensor) -> float | None:
    if len(a) < 2 or float(a.std()) == 0 or float(b.std()) == 0:
        return None
    return float(torch.corrcoef(torch.stack([a.float(), b.float()]))[0, 1])

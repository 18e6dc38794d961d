"""TrainSpec.speed in the trainer (sthlib.train.speed), and the promise that no training step reads the device."""

import shutil

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sthlib.checkpoint import load_model
from sthlib.specs import preset
from sthlib.train import Callback, Trainer
from sthlib.validation import SpecError

TINY = {"epochs": 1, "train_limit": 192, "test_limit": 64, "valid_fraction": 0.01, "reg.n_images": 100}
HAS_COMPILER = shutil.which("g++") is not None or shutil.which("c++") is not None


def _fit(**changes):
    trainer = Trainer(preset("smoke", **TINY, **changes))
    return trainer, trainer.fit()


def _assert_close_states(a, b, **tolerance):
    assert list(a) == list(b)  # the same keys in the same order: no "_orig_mod." prefix
    for key, value in a.items():
        assert value.dtype == b[key].dtype and value.shape == b[key].shape, key
        assert torch.allclose(value.float(), b[key].float(), **tolerance), key


def test_channels_last_trains_the_same_weights_and_saves_them_as_usual(tmp_path):
    """The same steps up to float rounding and the checkpoint as without it. CPU convolutions in channels_last sum
    in another order: weights differ by 1e-4 after one step at lr 0.1 and by 1e-3 a few steps later, while the
    losses agree to 1e-4 (measured: train loss 2.32996 vs 2.33001)."""
    plain, fast = Trainer(preset("smoke", **TINY)), Trainer(preset("smoke", **TINY, **{"speed.channels_last": True}))
    assert fast.model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    for trainer in (plain, fast):
        trainer.step(torch.arange(64), trainer.reg.sampler.sample(16))
    _assert_close_states(plain.model.state_dict(), fast.model.state_dict(), rtol=1e-3, atol=5e-4)
    plain_last, fast_last = plain.fit().last, fast.fit().last
    for name in ("train_loss", "valid_loss", "reg_loss", "reg_eval_loss"):
        assert getattr(fast_last, name) == pytest.approx(getattr(plain_last, name), rel=1e-3), name
    assert fast_last.valid_acc == pytest.approx(plain_last.valid_acc, abs=0.05)
    assert all(v.is_contiguous() for v in fast.best_state.values())
    path = tmp_path / "best.safetensors"
    fast.save_best(path)
    model, meta = load_model(path)
    assert meta["spec"]["speed"]["channels_last"] is True
    best = fast.best_model().state_dict()
    assert list(model.state_dict()) == list(best)
    assert all(torch.equal(v, best[k].cpu()) for k, v in model.state_dict().items())


def test_bf16_autocast_runs_on_cpu_and_saves_a_float32_checkpoint(tmp_path):
    plain, _ = _fit()
    bf16, result = _fit(**{"speed.amp": "bf16"})
    assert all(m.reg_loss is None or m.reg_loss == m.reg_loss for m in result.history)  # no NaN
    assert result.last.train_loss is not None and 0 < result.last.train_loss < 10
    changed = [k for k, v in bf16.model.state_dict().items() if not torch.equal(v, plain.model.state_dict()[k])]
    assert changed  # the forward passes did run in bfloat16
    path = tmp_path / "best.safetensors"
    bf16.save_best(path)
    model, meta = load_model(path)
    assert meta["spec"]["speed"]["amp"] == "bf16"
    assert all(v.dtype == plain.model.state_dict()[k].dtype for k, v in model.state_dict().items())
    assert list(model.state_dict()) == list(plain.model.state_dict())


@pytest.mark.slow
@pytest.mark.skipif(not HAS_COMPILER, reason="torch.compile needs a C++ compiler")
def test_compile_trains_like_eager_and_keeps_the_state_dict_keys(tmp_path):
    plain, plain_result = _fit()
    fast, fast_result = _fit(**{"speed.compile": True})
    assert fast.forward is not fast.model
    _assert_close_states(plain.model.state_dict(), fast.model.state_dict(), rtol=1e-3, atol=1e-4)
    assert fast_result.best.valid_acc == pytest.approx(plain_result.best.valid_acc, abs=0.05)
    fast.save_best(tmp_path / "best.safetensors")
    model, _ = load_model(tmp_path / "best.safetensors")
    assert list(model.state_dict()) == list(plain.model.state_dict())


def test_compile_without_a_working_compiler_fails_before_training_and_names_the_field(monkeypatch):
    import torch._dynamo
    import torch._inductor.config

    torch._dynamo.reset()  # a probe compiled earlier in this process would be a cache hit
    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", ("/nonexistent/c++",))
    try:
        with pytest.raises(SpecError, match=r"^speed\.compile: torch\.compile does not work") as caught:
            Trainer(preset("smoke", **TINY, **{"speed.compile": True}))
    finally:
        torch._dynamo.reset()
    assert "set speed.compile to false" in str(caught.value)


# ---- no host synchronisation inside the steps ---------------------------------------------------------------------
SYNCING = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.masked_select.default",
           "aten.unique_dim.default", "aten._unique2.default", "aten.item.default"}  # fmt: skip


def _syncs(func, args) -> bool:
    """Whether an aten op reads the device from the host on CUDA: item()/float()/bool() (_local_scalar_dense),
    nonzero, boolean-mask indexing, a copy to the CPU."""
    name = str(func)
    if name in SYNCING:
        return True
    if name.startswith(("aten.index.Tensor", "aten.index_put")):
        indices = args[1] if len(args) > 1 else []
        return any(isinstance(t, torch.Tensor) and t.dtype in (torch.bool, torch.uint8) for t in indices or [])
    if name.startswith(("aten._to_copy", "aten.copy_")):
        return any(isinstance(a, torch.Tensor) and a.device.type != "cpu" for a in args)
    return False


class HostReads(TorchDispatchMode):
    """Records the syncing ops (as CUDA would see them) run while armed."""

    def __init__(self):
        super().__init__()
        self.armed, self.found = False, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.armed and _syncs(func, args):
            self.found.append(str(func))
        return func(*args, **(kwargs or {}))


class ArmDuringSteps(Callback):
    """Armed from the start of each step (Trainer.step wrapped) through the loop's bookkeeping and the step-end
    callbacks, until the next step's stop poll; disarmed after the epoch's last step, where the sums are read."""

    def __init__(self, trainer, arm, extra=None):
        self.arm, self.extra = arm, extra
        step = trainer.step

        def armed_step(*args, **kwargs):
            arm(True)
            return step(*args, **kwargs)

        trainer.step = armed_step

    def on_step_end(self, trainer, progress):
        if self.extra is not None:
            self.extra(trainer)
        if progress.step == progress.steps:
            self.arm(False)

    def should_stop(self):
        self.arm(False)
        return False


@pytest.mark.parametrize("changes", [{}, {"reg.fused": True}, {"reg.alpha": 0.0}, {"augment": "crop_flip"},
                                     {"speed.channels_last": True, "speed.amp": "bf16"}])  # fmt: skip
def test_no_training_step_reads_the_device_from_the_host(changes):
    trainer = Trainer(preset("smoke", **{**TINY, "epochs": 2, **changes}))
    reads = HostReads()
    trainer.callbacks.append(ArmDuringSteps(trainer, lambda on: setattr(reads, "armed", on)))
    with reads:
        trainer.fit()
    assert reads.found == []
    assert len(trainer.history) == 3 and trainer.history[-1].train_loss is not None


@pytest.mark.parametrize("read", [lambda t: t.model.layer_weights.sum().item(), lambda t: float(t.model.tap_mean_0[0]),
                                  lambda t: t.model.layer_weights[t.model.layer_weights > -1]])  # fmt: skip
def test_the_host_read_check_sees_a_read_added_to_the_loop(read):
    trainer = Trainer(preset("smoke", **TINY))
    reads = HostReads()
    trainer.callbacks.append(ArmDuringSteps(trainer, lambda on: setattr(reads, "armed", on), extra=read))
    with reads:
        trainer.fit()
    assert reads.found  # the check above would fail for it


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_training_step_synchronises_cuda():
    """CUDA's own check: set_sync_debug_mode("error") raises at any synchronising call while armed."""
    changes = {**TINY, "epochs": 2, "speed.channels_last": True, "speed.amp": "bf16"}
    trainer = Trainer(preset("smoke", **changes), device="cuda")
    trainer.callbacks.append(ArmDuringSteps(trainer, lambda on: torch.cuda.set_sync_debug_mode("error" if on else 0)))
    try:
        trainer.fit()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert trainer.history[-1].train_loss is not None

import pytest
import torch
import torch.nn.functional as F

from sthlib.models import ARCHITECTURES, build_model
from sthlib.specs import ARCHITECTURE_NAMES


def test_registry_matches_the_torch_free_names():
    assert tuple(sorted(ARCHITECTURES)) == tuple(sorted(ARCHITECTURE_NAMES))


@pytest.mark.parametrize("arch", ["small_cnn", "resnet18", "resnet18_narrow"])
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_forward_and_similarity_shapes(arch, channels, size):
    model = build_model(arch, channels, 10)
    x = torch.rand(6, channels, size, size)
    assert model(x).shape == (6, 10)
    assert model.similarity(x[:3], x[3:]).shape == (3,)


def test_resnet18_stem_and_taps_follow_the_paper():
    model = build_model("resnet18", 1, 10)
    conv = model.stem[0]
    assert (conv.kernel_size, conv.stride, conv.padding, conv.bias) == ((7, 7), (1, 1), (3, 3), None)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    shapes = [tuple(t.shape[1:]) for t in model.taps(torch.rand(2, 1, 28, 28))]
    assert shapes == [(64, 28, 28), (64, 28, 28), (128, 14, 14), (256, 7, 7), (512, 4, 4)]


def test_the_narrow_resnet18_is_resnet18_at_a_quarter_of_the_widths():
    narrow, full = build_model("resnet18_narrow", 1, 10), build_model("resnet18", 1, 10)
    x = torch.rand(2, 1, 28, 28)
    assert [tuple(t.shape[1:]) for t in narrow.taps(x)] == [(16, 28, 28), (16, 28, 28), (32, 14, 14), (64, 7, 7),
                                                            (128, 4, 4)]  # fmt: skip
    assert [type(m).__name__ for m in narrow.modules()] == [type(m).__name__ for m in full.modules()]
    assert narrow.stem[0].kernel_size == (7, 7) and narrow.stem[0].stride == (1, 1)
    ratio = sum(p.numel() for p in full.parameters()) / sum(p.numel() for p in narrow.parameters())
    assert 14 < ratio < 17  # conv weights scale with width squared


def test_resnet50_strides_on_the_first_1x1_convolution_as_the_reference():
    model = build_model("resnet50", 1, 10)
    for stage, stride in zip(model.stages, (1, 2, 2, 2), strict=True):
        first = stage[0]
        assert first.conv1.kernel_size == (1, 1) and first.conv1.stride == (stride, stride)
        assert first.conv2.kernel_size == (3, 3) and first.conv2.stride == (1, 1)
        assert first.shortcut[0].stride == (stride, stride)  # every stage's first block projects (64 -> 256 too)
        assert all(block.conv1.stride == block.conv2.stride == (1, 1) for block in stage[1:])


@pytest.mark.parametrize(
    ("size", "sides"), [(28, (28, 28, 14, 7, 4)), (32, (32, 32, 16, 8, 4))]
)  # fmt: skip
def test_resnet50_tap_sizes(size, sides):
    model = build_model("resnet50", 1, 10).eval()
    with torch.no_grad():
        shapes = [tuple(t.shape[1:]) for t in model.taps(torch.rand(1, 1, size, size))]
    channels = (64, 256, 512, 1024, 2048)
    assert shapes == [(c, s, s) for c, s in zip(channels, sides, strict=True)]


def test_layer_weights_start_uniform_and_means_at_zero():
    model = build_model("resnet18", 1, 10)
    assert torch.equal(torch.softmax(model.layer_weights, 0), torch.full((5,), 0.2))
    assert all(torch.equal(m, torch.zeros_like(m)) for m in model.tap_means())


def test_similarity_equals_the_formula_by_hand():
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 10).eval()
    with torch.no_grad():
        model.layer_weights.copy_(torch.tensor([0.3, -1.0, 2.0]))
        for m in model.tap_means():
            m.copy_(torch.rand_like(m))
    x0, x1 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    taps0, taps1 = model.taps(x0), model.taps(x1)
    weights = torch.softmax(model.layer_weights, 0)
    expected = torch.zeros(4)
    for w, f0, f1, m in zip(weights, taps0, taps1, model.tap_means(), strict=True):
        for p in range(4):
            a, b = (f0[p] - m[:, None, None]).flatten(), (f1[p] - m[:, None, None]).flatten()
            expected[p] += w * (a @ b) / (a.norm() * b.norm())
    assert torch.allclose(model.similarity(x0, x1), expected, atol=1e-5)


def test_running_means_update_in_training_mode_only():
    torch.manual_seed(1)
    model = build_model("small_cnn", 1, 10)
    before = [m.clone() for m in model.tap_means()]
    x0, x1 = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    model.train()
    with torch.no_grad():
        train_taps = [torch.cat([a, b]) for a, b in zip(model.taps(x0), model.taps(x1), strict=True)]
    model.eval()
    model.similarity(x0, x1)
    assert all(torch.equal(a, b) for a, b in zip(before, model.tap_means(), strict=True))
    model.train()
    model.similarity(x0, x1)
    for old, new, feats in zip(before, model.tap_means(), train_taps, strict=True):
        assert torch.allclose(new, 0.9 * old + 0.1 * feats.mean(dim=(0, 2, 3)), atol=1e-6)


def test_fused_equals_two_pass_in_eval_mode_and_differs_in_training_mode():
    torch.manual_seed(2)
    model = build_model("small_cnn", 1, 10).eval()
    x0, x1 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    assert torch.allclose(model.similarity(x0, x1), model.similarity(x0, x1, fused=True), atol=1e-6)
    model.train()
    assert not torch.allclose(model.similarity(x0, x1), model.similarity(x0, x1, fused=True), atol=1e-4)


def test_gradients_reach_the_layer_weights():
    model = build_model("small_cnn", 1, 10)
    model.similarity(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)).sum().backward()
    assert model.layer_weights.grad is not None and model.layer_weights.grad.abs().sum() > 0
    F.cross_entropy(model(torch.rand(2, 1, 28, 28)), torch.tensor([0, 1])).backward()


@pytest.mark.parametrize(
    ("args", "message"),
    [(("vgg", 1, 10), "unknown architecture 'vgg'; choose one of resnet18"), (("resnet18", 2, 10), "in_channels"),
     (("resnet18", 1, 1), "num_classes")],
)  # fmt: skip
def test_bad_build_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        build_model(*args)


@pytest.mark.parametrize("fused", [False, True])
def test_under_bf16_autocast_the_similarity_is_scored_in_float32(fused):
    """TrainSpec.speed.amp bf16: the core runs in bfloat16, the means, cosines and their mix in float32 (a bf16
    similarity would step by 0.004 near 1, where the loss's g is steepest)."""
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 10).train()
    x0, x1 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.taps(x0)[-1].dtype == torch.bfloat16
        pred = model.similarity(x0, x1, fused=fused)
    assert pred.dtype == torch.float32 and all(m.dtype == torch.float32 for m in model.tap_means())
    plain = build_model("small_cnn", 1, 10).train()
    plain.load_state_dict(model.state_dict())
    for mean in plain.tap_means():  # the state before the autocast call's update
        mean.zero_()
    assert torch.allclose(pred, plain.similarity(x0, x1, fused=fused), atol=0.05)

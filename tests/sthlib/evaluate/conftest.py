"""Small real models for the evaluator tests: small CNNs trained briefly on mnist-5k (regularized and not)."""

import pytest
import torch

from sthlib.evaluate.classifier import evaluation_images, load_classifier
from sthlib.specs import preset
from sthlib.train import Trainer


def _train(path, **changes):
    trainer = Trainer(preset("smoke", epochs=1, train_limit=2000, test_limit=200, **changes))
    trainer.fit()
    trainer.save_best(path)
    return path


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "regularized": _train(folder / "reg.safetensors", **{"reg.n_images": 500}),
        "baseline": _train(folder / "base.safetensors", **{"reg.alpha": 0.0}, seed=1),
    }


@pytest.fixture(scope="session")
def target(checkpoints):
    return load_classifier(checkpoints["regularized"])


@pytest.fixture(scope="session")
def source(checkpoints):
    return load_classifier(checkpoints["baseline"])


@pytest.fixture(scope="session")
def mnist_eval():
    x, y = evaluation_images("mnist-5k", "gray", 120, seed=0)
    return torch.from_numpy(x).float() / 255, torch.from_numpy(y)

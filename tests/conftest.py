import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def mnist5k_train():
    from sthlib.data import load_dataset

    return load_dataset("mnist-5k", "train")

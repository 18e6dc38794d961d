"""The API's pre-flight pair check and the trainer refuse a regularizer that cannot run with the same words."""

import pytest
import torch

from api.similarity import check_pairs
from sthlib.specs import preset
from sthlib.train.data import RegData
from sthlib.validation import SpecError


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"reg.variant": "high", "reg.threshold": 0.999}, "reg.threshold", "selects none of the 19900 pairs"),
        ({"reg.variant": "high", "reg.threshold": 0.5, "reg.pairs_per_step": 1000}, "reg.pairs_per_step",
         "1000 pairs per step exceeds the"),  # 375 selected
        ({"reg.variant": "double", "reg.threshold": 0.6, "reg.threshold_low": 0.001, "reg.pairs_per_step": 1000},
         "reg.pairs_per_step", "(threshold_low 0.001) selects among the first 200 images"),
        ({"reg.n_images": 4001}, "reg.n_images", "4001 exceeds the 4000 training images of 'mnist-5k'"),
    ],
)  # fmt: skip
def test_the_api_and_the_trainer_refuse_with_the_same_message(changes, field, says):
    spec = preset("smoke", **{"reg.n_images": 200, **changes}).validate()
    with pytest.raises(SpecError) as api:
        check_pairs(spec)
    with pytest.raises(SpecError) as trainer:
        RegData.load(spec, torch.device("cpu"))
    assert api.value.field == trainer.value.field == field
    assert str(api.value) == str(trainer.value)
    assert says in str(api.value) and str(api.value).startswith(f"{field}: ")


def test_what_the_api_lets_through_the_trainer_loads():
    spec = preset("smoke", **{"reg.n_images": 200, "reg.variant": "high", "reg.threshold": 0.5}).validate()
    check_pairs(spec)
    reg = RegData.load(spec, torch.device("cpu"))
    assert reg.sampler.selected_count >= spec.reg.pairs_per_step

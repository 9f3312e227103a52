"""User mistakes in the baselines' Python API: one ValueError naming the argument and what is allowed."""

import pytest

from spirograph_baselines.config import TrainConfig
from spirograph_baselines.encoders import ConvNet, build_encoder
from spirograph_baselines.methods import available_methods, build_method, get_method

HUGE = 10**30


@pytest.mark.parametrize("field", ["n_contents", "data_seed", "epochs", "max_steps", "checkpoint_every", "log_every"])
def test_train_config_refuses_integers_beyond_int64(field):
    settings = {field: HUGE, **({"batch_size": 2} if field == "n_contents" else {})}
    with pytest.raises(ValueError, match=rf"^{field}={HUGE}: expected an integer in \[\d+, 2\*\*63 - 1\]$"):
        TrainConfig(**settings).validate()


def test_train_config_resolution_is_bounded_like_render():
    with pytest.raises(ValueError, match=r"^resolution=100000: expected an integer in \[2, 4096\]$"):
        TrainConfig(resolution=100_000).validate()


@pytest.mark.parametrize("method", available_methods())
def test_method_integer_settings_refuse_huge_values(method):
    cls = get_method(method)
    fields = [name for name, value in cls.Config().to_dict().items() if isinstance(value, int) and not isinstance(value, bool)]
    assert fields
    for name in fields:
        with pytest.raises(ValueError, match=rf"^{name}={HUGE}: expected an integer in \[\d+, 2\*\*63 - 1\]$"):
            cls.Config.from_overrides({name: HUGE})


def test_build_method_n_items():
    with pytest.raises(ValueError, match=rf"^n_items={HUGE}: expected an integer in \[1, 2\*\*63 - 1\]$"):
        build_method("simclr", ConvNet((4,)), {}, n_items=HUGE)


def test_build_encoder_width():
    with pytest.raises(ValueError, match=rf"^width={HUGE}: expected an integer in \[1, 2\*\*63 - 1\]$"):
        build_encoder("resnet18", width=HUGE)

from dataclasses import dataclass

import pytest

from probgen import runtime
from probgen.runtime import ConfigError, ProfileConfig


@dataclass(frozen=True)
class ToyConfig(ProfileConfig):
    PROFILES = {"smoke": {"n": 10}, "quick": {"n": 1000}, "full": {"n": 100_000}}
    n: int = 1
    method: str = "a"

    def validate(self):
        runtime.check_choice("method", self.method, ("a", "b"))


def test_for_profile_reads_the_profile_table():
    assert ToyConfig.for_profile("smoke").n == 10
    assert ToyConfig.for_profile("full", seed=3).n == 100_000
    assert ToyConfig.for_profile("quick", n=5).n == 5


def test_unknown_profile_names_allowed_values():
    with pytest.raises(ConfigError, match=r"unknown profile 'fast'.*'smoke', 'quick', 'full'"):
        ToyConfig.for_profile("fast")


def test_unknown_key_names_the_key_and_allowed_keys():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) epochs for ToyConfig; allowed: method, n"):
        ToyConfig.for_profile("smoke", epochs=3)


def test_bad_value_names_key_and_choices():
    with pytest.raises(ConfigError, match=r"method='c' is not allowed; choose one of 'a', 'b'"):
        ToyConfig.for_profile("smoke", method="c")


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed(seed):
    with pytest.raises(ConfigError, match="seed"):
        ToyConfig(profile="smoke", seed=seed)


def test_config_is_frozen():
    cfg = ToyConfig.for_profile("smoke")
    with pytest.raises(AttributeError):
        cfg.n = 3


def test_resolve_device():
    assert runtime.resolve_device("cpu") == "cpu"
    assert runtime.resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="device='tpu'"):
        runtime.resolve_device("tpu")


def test_manifest_has_provenance():
    m = runtime.manifest(profile="smoke", seeds=[0, 1], wall_time_s=1.23456)
    for key in ("git_commit", "profile", "device", "versions", "seeds", "wall_time_s", "created_utc"):
        assert key in m
    assert m["seeds"] == [0, 1] and m["wall_time_s"] == 1.235
    with pytest.raises(ConfigError):
        runtime.manifest(profile="nope", seeds=0)


def test_print_of_a_config_fits_the_page_and_shows_every_field():
    from probgen.diffusion.study import DDPMStudyConfig
    from probgen.vae.training import VAETrainConfig

    for cfg in (DDPMStudyConfig.for_profile("quick"), VAETrainConfig()):
        text = str(cfg)
        assert all(len(line) <= 80 for line in text.splitlines()), text
        assert text.startswith(type(cfg).__name__ + "(") and text.endswith(")")
        for name, value in vars(cfg).items():
            assert f"{name}={value!r}" in text
    assert str(ToyConfig.for_profile("smoke")) == "ToyConfig(profile='smoke', seed=0, n=10, method='a')"

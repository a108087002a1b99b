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


def test_asking_for_cuda_without_cuda_is_a_clear_error_and_auto_falls_back(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device='cuda' was asked for but no CUDA device is available; use 'auto' or 'cpu'"):
        runtime.resolve_device("cuda")
    assert runtime.resolve_device("auto") == "cpu" and runtime.cuda_device_count() == 0


def test_device_helpers_on_the_cpu():
    import torch

    assert runtime.is_cuda("cuda") and runtime.is_cuda("cuda:1") and runtime.is_cuda(torch.device("cuda", 0))
    assert not runtime.is_cuda("cpu") and not runtime.is_cuda(torch.device("cpu"))
    assert runtime.rng_devices("cpu") == [] and runtime.rng_devices("cuda") == [0] and runtime.rng_devices("cuda:1") == [1]
    runtime.synchronize("cpu")  # nothing to wait for, and it must not touch CUDA
    assert runtime.cuda_properties("cpu") == {}
    assert runtime.device_description("cpu").startswith("cpu: ")


def test_best_time_is_the_fastest_of_its_repeats():
    import time

    durations = iter([0.03, 0.01, 0.02])
    calls = []

    def fn():
        calls.append(1)
        time.sleep(next(durations))

    best = runtime.best_time(fn, "cpu", 3)
    assert len(calls) == 3 and 0.01 <= best < 0.03  # the 10 ms call (the others take at least 20 and 30 ms)


def test_only_the_runtime_module_talks_to_cuda():
    """Device choice, CUDA queries and synchronisation go through `probgen.runtime`, so one place decides
    (and a CPU test of runtime covers every branch); a chapter module calling torch.cuda would escape it."""
    import re
    from pathlib import Path

    import probgen

    pattern = re.compile(r"torch\.cuda\.|[=!]= ?[\"']cuda[\"']")
    offenders = []
    for path in Path(probgen.__file__).parent.rglob("*.py"):
        if path.name == "runtime.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def _configs_with_a_device():
    import dataclasses
    import importlib
    import pkgutil

    import probgen

    for info in pkgutil.walk_packages(probgen.__path__, "probgen."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    seen, stack = set(), [ProfileConfig, runtime.FromDict]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if dataclasses.is_dataclass(sub) and "device" in {f.name for f in dataclasses.fields(sub)}:
                seen.add(sub)
    return sorted(seen, key=lambda c: (c.__module__, c.__name__))


def test_no_config_picks_cuda_silently_and_every_one_accepts_cpu():
    """Every chapter config with a device field defaults to "auto" (CUDA only where there is one) or "cpu",
    and every profile of it can be built with device="cpu" explicitly."""
    import dataclasses

    configs = _configs_with_a_device()
    assert len(configs) >= 8, [c.__name__ for c in configs]  # the chapters' configs were found
    for cls in configs:
        default = {f.name: f.default for f in dataclasses.fields(cls)}["device"]
        assert default in ("auto", "cpu"), f"{cls.__module__}.{cls.__name__}.device defaults to {default!r}"
        if issubclass(cls, ProfileConfig):
            for profile in runtime.PROFILES:
                assert cls.for_profile(profile, device="cpu").device == "cpu"
        else:
            assert cls(device="cpu").device == "cpu"


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


def test_cpu_model_names_the_processor(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
    assert runtime.cpu_model(str(info)) == "AMD EPYC 7B13"
    monkeypatch.setattr(runtime.platform, "processor", lambda: "")
    monkeypatch.setattr(runtime.platform, "machine", lambda: "arm64")
    assert runtime.cpu_model(str(tmp_path / "missing")) == "arm64"  # no cpuinfo (macOS, Windows)
    info.write_text("processor\t: 0\nmodel name\t:\n")
    assert runtime.cpu_model(str(info)) == "arm64"  # an empty name says nothing


def test_seed_list_takes_one_seed_or_several():
    assert runtime.seed_list(3) == [3] and runtime.seed_list((0, 1)) == [0, 1] and runtime.seed_list(range(2)) == [0, 1]

"""Toy models of the struggles chapter: configs, sampler strings, training and cached draws on (B, 2) data."""

import pytest
import torch

from probgen.data import toy2d
from probgen.diffusion import DDPM
from probgen.flows import FlowMatching
from probgen.runtime import ConfigError
from probgen.struggles import toy

TINY = dict(hidden=16, layers=1, steps=20, batch_size=64, T=50)


def test_model_config_checks_its_fields():
    with pytest.raises(ConfigError, match="model"):
        toy.ToyModelConfig(model="gan")
    with pytest.raises(ConfigError, match="schedule"):
        toy.ToyModelConfig(schedule="quadratic")
    with pytest.raises(ConfigError, match="DDPM only"):
        toy.ToyModelConfig(model="flow", schedule="cosine")
    with pytest.raises(ConfigError, match="hidden"):
        toy.ToyModelConfig(hidden=0)
    assert toy.ToyModelConfig(model="flow").net_config().time_scale == 1000.0
    assert toy.ToyModelConfig(model="ddpm").net_config().time_scale == 1.0


@pytest.mark.parametrize("sampler, model, nfe", [("ancestral", "ddpm", 1000), ("ddim-20", "ddpm", 20),
                                                 ("euler-7", "flow", 7), ("heun-5", "flow", 10)])
def test_sampler_strings_and_their_cost(sampler, model, nfe):
    assert toy.sampler_nfe(sampler, model) == nfe


@pytest.mark.parametrize("sampler, model", [("euler-10", "ddpm"), ("ancestral", "flow"), ("ddim", "ddpm"),
                                            ("ancestral-5", "ddpm"), ("ddim-x", "ddpm"), ("ddim-0", "ddpm"),
                                            ("rk4-10", "flow")])
def test_bad_sampler_strings_are_refused(sampler, model):
    with pytest.raises(ConfigError, match="sampler"):
        toy.parse_sampler(sampler, model)


@pytest.mark.parametrize("model, samplers", [("ddpm", ("ancestral", "ddim-5")), ("flow", ("euler-5", "heun-3"))])
def test_train_draw_and_cache_on_2d_data(model, samplers):
    ring = toy2d.make_toy("ring", 0.5)
    mcfg = toy.ToyModelConfig(model=model, **({k: v for k, v in TINY.items() if model == "ddpm" or k != "T"}))
    trained, record = toy.train_toy(ring, mcfg, n_train=200, seed=3, device="cpu", log=lambda m: None)
    assert isinstance(trained, DDPM if model == "ddpm" else FlowMatching)
    assert record["step"] == 20
    rows, draws = toy.evaluate(ring, mcfg, n_train=200, n_samples=50, seed=3, samplers=samplers, device="cpu",
                               labels={"family": "ring"}, log=lambda m: None)
    assert [r["sampler"] for r in rows] == list(samplers)
    for sampler, x in draws.items():
        assert x.shape == (50, 2) and x.dtype == torch.float64 and torch.isfinite(x).all()
    logs = []
    again = toy.cached_draw(trained, record, samplers[0], 50, 3, log=logs.append)
    assert torch.equal(again, draws[samplers[0]]) and any("loaded toy-samples" in m for m in logs)
    other = toy.cached_draw(trained, record, samplers[0], 50, 4, log=logs.append)
    assert not torch.equal(other, again)  # another seed, other samples


def test_training_set_is_seeded_and_shared_by_both_models():
    ring = toy2d.make_toy("ring", 1.0)
    a, b = toy.training_set(ring, 100, 0), toy.training_set(ring, 100, 0)
    assert torch.equal(a, b) and a.dtype == torch.float32
    assert not torch.equal(a, toy.training_set(ring, 100, 1))


def test_truth_row_is_the_floor_of_the_metrics():
    ring = toy2d.make_toy("ring", 1.0)
    row = toy.truth_row(ring, toy.exact_samples(ring, 2000, 0), seed=0)
    assert row["model"] == "truth" and row["mode_coverage"] == 1.0
    assert row["mode_mass_error"] < 0.05 and abs(row["energy_distance"]) < 0.01
    collapsed = ring.centres[:1].repeat(2000, 1)  # every sample on one mode centre
    bad = toy.toy_row(ring, collapsed, seed=0, model="collapse")
    assert bad["mode_coverage"] == pytest.approx(1 / 8) and bad["energy_distance"] > 0.5


def test_study_config_profiles_and_remedies():
    for profile in ("smoke", "quick", "full"):
        cfg = toy.ToyStudyConfig.for_profile(profile, seed=2)
        assert cfg.seeds[0] == 2 and len(cfg.seeds) == cfg.n_seeds
        ddpm, flow = cfg.remedies("ddpm"), cfg.remedies("flow")
        assert list(ddpm)[:2] == ["baseline", "cosine schedule"] and "cosine schedule" not in flow
        assert ddpm["baseline"] == cfg.model_config("ddpm")
        assert any(c.steps == cfg.remedy_steps for c in flow.values())
        assert any(c.hidden == cfg.remedy_hidden for c in flow.values())
    with pytest.raises(ConfigError, match="family"):
        toy.ToyStudyConfig.for_profile("smoke", families=("spiral",))
    with pytest.raises(ConfigError, match="difficulty"):
        toy.ToyStudyConfig.for_profile("smoke", difficulties=(1.5,))
    with pytest.raises(ConfigError, match="must include"):
        toy.ToyStudyConfig.for_profile("smoke", ddpm_samplers=("ddim-10",))
    with pytest.raises(ConfigError, match="unknown parameter"):
        toy.ToyStudyConfig.for_profile("smoke", width=3)


def test_sweep_and_remedies_cover_the_grid():
    cfg = toy.ToyStudyConfig.for_profile("smoke", families=("ring",), remedy_families=("ring",), difficulties=(0.5,),
                                         n_seeds=1, n_samples=20,
                                         n_train=100, steps=5, remedy_steps=10, remedy_hidden=16, hidden=8,
                                         ddpm_samplers=("ddim-3", "ancestral"), flow_samplers=("euler-100",),
                                         device="cpu")
    rows, draws = toy.run_sweep(cfg, progress=False)
    assert sorted(r["model"] for r in rows) == ["ddpm", "flow", "truth"]
    assert set(draws) == {("ring", 0.5, m) for m in ("truth", "ddpm", "flow")}
    rows, draws = toy.run_remedies(cfg, progress=False)
    got = {(r["model"], r["remedy"], r["sampler"]) for r in rows}
    assert ("ddpm", "baseline", "ddim-3") in got and ("ddpm", "cosine schedule", "ancestral") in got
    assert ("flow", "2× training", "euler-100") in got and ("flow", "width 16", "euler-100") in got
    assert len(rows) == len(got) == 2 + 3 + 1 + 2

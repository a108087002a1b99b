import numpy as np
import pytest

from probgen.runtime import ConfigError
from probgen.walker import study


def test_profiles_and_validation():
    for profile in ("smoke", "quick", "full"):
        cfg = study.WalkerStudyConfig.for_profile(profile, seed=2)
        assert cfg.seeds == list(range(2, 2 + cfg.n_seeds))
        assert set(cfg.methods()) == set(study.METHOD_NAMES)
    with pytest.raises(ConfigError, match="budget"):
        study.WalkerStudyConfig.for_profile("smoke", budget=0)
    with pytest.raises(ConfigError, match="beta"):
        study.WalkerStudyConfig.for_profile("smoke", beta=-1.0)


def test_runs_are_cached_and_shared_across_profiles(monkeypatch):
    cfg = study.WalkerStudyConfig.for_profile("smoke", budget=12, seconds=1.0)
    first = study.run_one(cfg, "random search", 0, log=lambda m: None)
    assert first["n_calls"] == 12 and len(first["best_so_far"]) == 12
    assert np.all(np.diff(first["best_so_far"]) >= 0)
    calls = []
    monkeypatch.setattr(study, "distance", lambda *a, **k: calls.append(1) or 0.0)
    again = study.run_one(cfg.__class__.for_profile("quick", budget=12, seconds=1.0, n_seeds=7), "random search", 0,
                          log=lambda m: None)
    assert again == first and calls == []  # loaded, not simulated again


def test_study_tables_and_robustness():
    cfg = study.WalkerStudyConfig.for_profile("smoke", budget=10, n_seeds=2, seconds=1.0, robustness_draws=3)
    res = study.run_study(cfg, progress=False)
    assert len(res["runs"]) == 4 * 2 and set(res["summary"]["method"]) == set(study.METHOD_NAMES)
    best = study.best_run(res)
    assert best["best_value"] == res["runs"]["best_value"].max()
    perturbed = study.robustness(cfg, best["best_x"], seed=0)
    assert perturbed.shape == (3,) and np.isfinite(perturbed).all()
    assert study.replay(cfg, best["best_x"]).frames is not None


def _fake_study(values):
    """A study dict as `run_study` returns it, with only what `best_per_method` reads: {(method, seed): run}."""
    rng = np.random.default_rng(0)
    return {"results": {(m, s): {"method": m, "seed": s, "best_value": v, "best_x": list(rng.uniform(-1, 1, 40))}
                        for (m, s), v in values.items()}}


def test_best_per_method_picks_each_method_s_best_seed_lowest_seed_on_ties():
    res = _fake_study({("CMA-ES", 0): 2.0, ("CMA-ES", 1): 3.5, ("Metropolis", 0): 1.0, ("Metropolis", 1): 1.0,
                       ("random search", 0): 0.5})
    best = study.best_per_method(res)
    assert list(best) == ["random search", "Metropolis", "CMA-ES"]  # the order of METHOD_NAMES, missing ones left out
    assert (best["CMA-ES"]["seed"], best["Metropolis"]["seed"]) == (1, 0)
    with pytest.raises(ValueError, match="no runs"):
        study.best_per_method({"results": {}})


def test_plan_table_lists_every_command_of_every_plan():
    from probgen.walker import DEFAULT_PARAMS

    rng = np.random.default_rng(1)
    plans = {"A": rng.uniform(-1, 1, 40), "B": list(rng.uniform(-1, 1, 40))}
    table = study.plan_table(plans)
    assert list(table.columns) == ["phase", "starts at (s)", "A: hip", "A: knee", "B: hip", "B: knee"]
    assert table["phase"].tolist() == list(range(1, 21))
    np.testing.assert_allclose(table["starts at (s)"], np.arange(20) * DEFAULT_PARAMS.phase_seconds)
    for name, plan in plans.items():  # the 40 numbers come back exactly, hip then knee
        np.testing.assert_array_equal(np.concatenate([table[f"{name}: hip"], table[f"{name}: knee"]]), np.asarray(plan))
    with pytest.raises(ValueError, match="outside"):
        study.plan_table({"bad": np.full(40, 2.0)})
    with pytest.raises(ValueError, match="at least one"):
        study.plan_table({})

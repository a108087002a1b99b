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

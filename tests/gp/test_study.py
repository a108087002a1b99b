import numpy as np
import pandas as pd
import pytest
import torch

from probgen.gp import fitting, generate, study
from probgen.runtime import ConfigError

DATA = generate(20, seed=1)


def test_profiles_build_and_bad_values_are_refused():
    for profile in ("smoke", "quick", "full"):
        cfg = study.GPConfig.for_profile(profile)
        assert cfg.x_star.shape == (100,)
    with pytest.raises(ConfigError, match="nuts_draws"):
        study.GPConfig.for_profile("smoke", nuts_draws=1)
    with pytest.raises(ConfigError, match="nuts_init"):
        study.GPConfig.for_profile("smoke", nuts_init="zero")
    with pytest.raises(ConfigError, match="target_accept"):
        study.GPConfig.for_profile("smoke", target_accept=1.5)


def test_config_noise_reaches_the_fixed_variants():
    cfg = study.GPConfig.for_profile("smoke", sigma_y2=0.01)
    variants = cfg.variants()
    assert variants["B1b"].fixed == {"noise_var": 0.01} and variants["B1a"].fixed == {}


def test_fit_all_reports_both_methods_for_every_variant():
    cfg = study.GPConfig.for_profile("smoke")
    fits, table, grids = study.fit_all(cfg, DATA)
    assert set(fits) == set(fitting.VARIANTS) == set(grids)
    assert len(table) == 2 * len(fitting.VARIANTS)
    agree = study.agreement(table)
    assert (agree["Δ log marginal likelihood (gradient − grid)"] > -1e-6).all()


def _fake_chain(calls):
    def run_chain(x, y, kernel, noise_var, sigma_x2, *, warmup, draws, seed, target_accept, init, progress):
        calls.append(seed)
        if len(calls) == 2 and getattr(run_chain, "interrupt", False):
            raise KeyboardInterrupt
        g = torch.Generator().manual_seed(seed)
        return {"delta": 0.1 * torch.randn(draws, len(x), generator=g, dtype=torch.float64),
                "diverging": torch.zeros(draws, dtype=torch.bool), "seconds": 1.0}
    return run_chain


def test_nuts_draws_are_cached_and_an_interrupted_run_resumes(monkeypatch):
    cfg = study.GPConfig.for_profile("smoke", nuts_chains=3)
    fit = fitting.fit_gradient(cfg.variants()["B2"], DATA, starts=1)
    calls = []
    fake = _fake_chain(calls)
    fake.interrupt = True
    monkeypatch.setattr(study.nuts, "run_chain", fake)
    with pytest.raises(KeyboardInterrupt):
        study.sample_delta_posterior(cfg, DATA, fit, log=lambda m: None)
    assert calls == [0, 1]  # the first chain was saved before the interruption
    fake.interrupt = False
    idata = study.sample_delta_posterior(cfg, DATA, fit, log=lambda m: None)
    assert calls == [0, 1, 1, 2]  # resumed at the second chain
    assert idata.posterior["delta"].shape == (3, cfg.nuts_draws, 20)
    study.sample_delta_posterior(cfg, DATA, fit, log=lambda m: None)
    assert calls == [0, 1, 1, 2]  # the finished run is loaded, not resampled


def test_convergence_checks_name_the_offending_delta():
    table = pd.DataFrame({"mean": [0.0, 0.1], "sd": [0.1, 0.1], "r_hat": [1.0, 1.05], "ess_bulk": [900.0, 100.0],
                          "ess_tail": [800.0, 90.0]}, index=["Δ1", "Δ2"])
    problems = study.convergence_problems(table, study.GPConfig.for_profile("quick"))
    assert problems == ["Δ2: R-hat 1.050 > 1.01", "Δ2: bulk ESS 100 < 400"]


def test_joint_prior_check_is_accurate_on_a_fine_grid():
    check = study.joint_prior_check(study.SquaredExponential(0.3, 1.0), n=100, seed=0)
    assert check["rmse"] < 0.02 * check["df_rms"]
    assert np.isfinite(check["f"].numpy()).all()


def test_chains_that_have_not_converged_are_drawn_again_with_twice_the_draws(monkeypatch):
    calls = []

    class FakeIdata:  # stands for the InferenceData: its draws per chain and sampling time (a second per draw)
        def __init__(self, draws):
            self.draws, self.attrs = draws, {"sampling_seconds": float(draws)}

        def __eq__(self, other):
            return self.draws == other

    def fake_sample(cfg, data, fit, **kw):
        calls.append(cfg.nuts_draws)
        return FakeIdata(cfg.nuts_draws)

    def fake_table(idata):  # mixes once there are 400 draws per chain
        return pd.DataFrame({"r_hat": [1.02 if idata.draws < 400 else 1.001], "ess_bulk": [1000.0]}, index=["Δ1"])

    monkeypatch.setattr(study, "sample_delta_posterior", fake_sample)
    monkeypatch.setattr(study, "convergence_table", fake_table)
    cfg = study.GPConfig.for_profile("smoke", nuts_draws=100, nuts_extensions=2)

    idata, table, problems, used = study.sample_until_converged(cfg, DATA, None, log=lambda m: None)
    assert calls == [100, 200, 400] and used.nuts_draws == 400 and problems == [] and idata == 400
    assert idata.attrs["sampling_seconds"] == 700.0  # every attempt's time: what the sampling cost

    calls.clear()  # one extension is not enough: the problem is returned, for the notebook to raise
    _, _, problems, used = study.sample_until_converged(
        study.GPConfig.for_profile("smoke", nuts_draws=100, nuts_extensions=1), DATA, None, log=lambda m: None)
    assert calls == [100, 200] and used.nuts_draws == 200 and problems == ["Δ1: R-hat 1.020 > 1.01"]

    calls.clear()  # converged at once: sampled once, with the config unchanged
    _, _, problems, used = study.sample_until_converged(
        study.GPConfig.for_profile("smoke", nuts_draws=400, nuts_extensions=2), DATA, None, log=lambda m: None)
    assert calls == [400] and problems == [] and used.nuts_draws == 400


def test_the_quick_and_full_profiles_extend_unconverged_chains_and_smoke_does_not():
    assert study.GPConfig.for_profile("smoke").nuts_extensions == 0
    assert study.GPConfig.for_profile("quick").nuts_extensions >= 1
    assert study.GPConfig.for_profile("full").nuts_extensions >= 1
    with pytest.raises(ConfigError, match="nuts_extensions"):
        study.GPConfig.for_profile("smoke", nuts_extensions=-1)

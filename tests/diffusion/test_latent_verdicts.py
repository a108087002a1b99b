"""The latent chapter's verdicts: made-up tables that point one way, then the other, and a tie."""

import math

import numpy as np
import pytest
import torch

from probgen.diffusion import latent_study

T, STEPS, N, NL = 1000, (10, 100), 100, 400


def _row(model, steps, beta, fid, se=1.0, sps=100.0, fid_large=None):
    large = (np.nan, np.nan) if fid_large is None else (fid_large, se)
    return {"model": model, "sampler": f"{model}, {steps} steps", "steps": steps, "beta": beta,
            f"FID (N={N})": fid, f"FID se (N={N})": se, f"FID (N={NL})": large[0], f"FID se (N={NL})": large[1],
            "samples_per_s": sps}


def _tables(latent, prior, ddim_lo, recon, pixel=30.0, ddim_hi=None):
    """β in (1e-6, 1): latent ancestral FIDs (at both N), VAE prior, fewest-step latent DDIM, reconstruction FIDs."""
    betas = (1e-6, 1.0)
    rows = [_row("pixel DDPM", T, np.nan, pixel, sps=2.0), _row("pixel DDPM", 10, np.nan, pixel + 5, sps=200.0)]
    for i, b in enumerate(betas):
        rows.append(_row("latent DDPM", T, b, latent[i], sps=40.0, fid_large=latent[i]))
        rows.append(_row("latent DDIM", 10, b, ddim_lo[i], sps=4000.0, fid_large=ddim_lo[i]))
        hi = latent[i] if ddim_hi is None else ddim_hi[i]
        rows.append(_row("latent DDIM", 100, b, hi, sps=400.0, fid_large=hi))
        rows.append(_row("VAE prior", 0, b, prior[i], sps=50_000.0 + i, fid_large=prior[i]))
    vae = [{"beta": b, f"reconstruction FID (N={NL})": r, f"reconstruction FID se (N={NL})": 1.0}
           for b, r in zip(betas, recon)]
    return rows, vae


def _verdicts(*args, **kwargs):
    rows, vae = _tables(*args, **kwargs)
    return latent_study.latent_verdicts(rows, vae, n_cmp=N, n_large=NL, T=T, ddim_steps=STEPS)


def test_latent_verdicts_follow_the_numbers_one_way():
    v = _verdicts(latent=(10.0, 40.0), prior=(150.0, 60.0), ddim_lo=(10.5, 40.5), recon=(9.5, 30.0))
    assert v["best_beta"] == "1e-06"
    assert v["best_latent"].startswith("β = 1e-06 has the lowest FID (10.00 ± 1.96), lower than every other "
                                       "value of β")
    assert v["latent_vs_pixel"].startswith("The best latent DDPM (β = 1e-06) is better than the pixel DDPM")
    assert v["latent_vs_prior"] == "the latent DDPM is better than the VAE prior in FID at every β"
    assert v["latent_vs_prior_lo"].startswith("the latent DDPM is better than the VAE prior in FID by 140.00 ± 2.77")
    assert v["latent_ddim_across"].endswith("cannot be told apart in FID at any β at this N")
    assert v["speed_twice"].startswith("The speed-up of the latent model over the pixel model thus comes twice")
    assert v["recon_across"] == ("the decoder on real codes is better than the latent DDPM in FID at β = 1; "
                                 "they cannot be told apart at β = 1e-06")
    assert v["recon_gaps"] == "β = 1e-06: +0.50 ± 2.77; β = 1: +10.00 ± 2.77"
    assert v["recon_hi_lo"] == ("β = 1e-06 is better than β = 1 in reconstruction FID by 20.50 ± 2.77 "
                                "(9.50 ± 1.96 against 30.00 ± 1.96)")
    assert v["latent_hi_lo"].startswith("β = 1e-06 is better than β = 1 in the latent DDPM's FID by 30.00")
    assert v["fastest"].startswith("the fastest sampler in the table is the VAE prior (VAE prior, 0 steps, β = 1,")
    assert v["latent_speed"].startswith("The latent DDPM's ancestral sampler is faster than the pixel DDPM's at "
                                        "every β (20 times its speed)")
    # decoder: 1000 / 50 000.5 ms per sample (median); one U-Net step: 1000 / 2 / 1000 = 0.5 ms
    assert v["decoder_vs_step"].startswith("one decoder pass takes 0.020 ms per sample (median over β), 0.04 times")


def test_latent_verdicts_flip_the_other_way_and_tie():
    v = _verdicts(latent=(40.0, 10.0), prior=(30.0, 5.0), ddim_lo=(60.0, 20.0), recon=(30.0, 9.0), pixel=5.0)
    assert v["best_beta"] == "1"
    assert v["latent_vs_pixel"].startswith("The pixel DDPM (ancestral, 1000 steps) is better than the best latent DDPM")
    assert v["latent_vs_prior"] == "the VAE prior is better than the latent DDPM in FID at every β"
    assert v["latent_ddim_verdict_lo"].startswith("latent ancestral sampling (1000 steps) is better than latent DDIM "
                                                  "with 10 steps")
    assert v["latent_ddim_across"].startswith("latent ancestral sampling (1000 steps) is better than latent DDIM with "
                                              "10 steps in FID at every β")
    assert v["speed_twice"].startswith("Here the fewer steps cost FID")
    assert v["recon_hi_lo"].startswith("β = 1 is better than β = 1e-06 in reconstruction FID")
    assert v["latent_hi_lo"].startswith("β = 1 is better than β = 1e-06 in the latent DDPM's FID")

    v = _verdicts(latent=(20.0, 21.0), prior=(20.5, 21.5), ddim_lo=(20.0, 21.0), recon=(20.0, 21.0), pixel=20.5)
    assert v["best_latent"].endswith("cannot be told apart from any other value of β at this N")
    assert "cannot be told apart in FID at N = 100" in v["latent_vs_pixel"]
    assert v["latent_vs_prior"] == "the latent DDPM and the VAE prior cannot be told apart in FID at any β at this N"
    assert v["recon_across"].endswith("cannot be told apart in FID at any β at this N")
    assert "cannot be told apart" in v["recon_hi_lo"] and "cannot be told apart" in v["latent_hi_lo"]
    assert v["speed_twice"].startswith("The speed-up of the latent model over the pixel model thus comes twice")


def test_the_standard_vae_is_the_beta_closest_to_one():
    assert latent_study.vae_prior_beta((1e-6, 1e-4, 1e-2, 1.0)) == 1.0
    assert latent_study.vae_prior_beta((1e-6, 0.5, 4.0)) == 0.5


def test_code_spread_splits_the_aggregate_posterior_variance():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(20_000, 3, generator=g, dtype=torch.float64) * 2.0  # variance 4
    log_vars = torch.full((20_000, 3), math.log(1.0), dtype=torch.float64)  # encoder variance 1
    s = latent_study.code_spread(means, log_vars)
    # the sample variance of 60 000 draws of variance 4 has sd 4·√(2/20 000) ≈ 0.04 per dimension
    assert s["var_means"] == pytest.approx(4.0, abs=0.15) and s["var_noise"] == pytest.approx(1.0, rel=1e-12)
    assert s["noise_share"] == pytest.approx(s["var_noise"] / (s["var_means"] + 1.0), rel=1e-12)
    text = latent_study.spread_sentence({1.0: s, 1e-6: {"var_means": 25.0, "var_noise": 1e-4, "noise_share": 4e-6}})
    assert text.startswith("the encoder's noise makes up 0.0004 % at β = 1e-06 and 19.")
    assert "variance per dimension of 25 at β = 1e-06 and 4" in text
    with pytest.raises(ValueError, match="N ≥ 2"):
        latent_study.code_spread(means[:1], log_vars[:1])

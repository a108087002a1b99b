"""The memorization study: tiling, onset times, the config, snapshot scoring and one tiny run end to end."""

import math

import numpy as np
import pytest
import torch

from probgen.runtime import ConfigError
from probgen.struggles import memorize


@pytest.mark.parametrize("n, batch, min_items", [(10, 32, 0), (3, 4, 0), (7, 7, 0), (40, 32, 0), (1, 5, 0),
                                                  (10, 32, 3200), (40, 32, 3200), (5000, 32, 3200)])
def test_tile_to_batches_repeats_every_image_equally_into_whole_batches(n, batch, min_items):
    x = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 2, 2)
    tiled = memorize.tile_to_batches(x, batch, min_items)
    if n >= max(batch, min_items):
        assert tiled is x
        return
    assert tiled.shape[0] % math.lcm(n, batch) == 0 and tiled.shape[0] >= min_items
    assert tiled.shape[0] < min_items + math.lcm(n, batch) or tiled.shape[0] == math.lcm(n, batch)
    counts = torch.bincount(tiled[:, 0, 0, 0].long(), minlength=n)
    assert (counts == counts[0]).all()


def test_onset_step_interpolates_in_log_time():
    steps = np.array([100, 200, 400, 800])
    assert memorize.onset_step(steps, np.array([0.0, 0.2, 0.8, 1.0]), 0.5) == pytest.approx(200 * 2 ** 0.5)
    assert memorize.onset_step(steps, np.array([0.6, 0.7, 0.8, 1.0]), 0.5) == 100
    assert memorize.onset_step(steps, np.array([0.0, 0.8, 0.8, 1.0]), 0.8) == pytest.approx(200)
    assert math.isnan(memorize.onset_step(steps, np.array([0.0, 0.1, 0.2, 0.3]), 0.5))


def test_config_profiles_and_errors():
    for profile in ("smoke", "quick", "full"):
        cfg = memorize.MemorizationStudyConfig.for_profile(profile)
        runs = cfg.runs()
        assert len(runs) == len(set(runs))
        assert {n for n, c in runs if c == cfg.base_channels} >= set(cfg.sizes)
        assert {c for n, c in runs if n == cfg.capacity_size} >= set(cfg.capacities)
        assert cfg.train_config(0).snapshot_steps == cfg.snapshot_steps
    with pytest.raises(ConfigError, match="sizes"):
        memorize.MemorizationStudyConfig.for_profile("smoke", sizes=(1, 10))
    with pytest.raises(ConfigError, match="snapshot_steps"):
        memorize.MemorizationStudyConfig.for_profile("smoke", snapshot_steps=(10, 1000))
    with pytest.raises(ConfigError, match="sampler_steps"):
        memorize.MemorizationStudyConfig.for_profile("smoke", sampler_steps=0)
    with pytest.raises(ConfigError, match="n_fid"):
        memorize.MemorizationStudyConfig.for_profile("smoke", n_fid=1)
    assert memorize.MemorizationStudyConfig.for_profile("quick").n_fid >= 1000  # FIDs comparable with the book's others


def test_snapshot_rows_flag_copies_and_not_test_images():
    subset = memorize.training_subset(20, seed=1)
    from probgen.data import load_mnist
    test = torch.as_tensor(load_mnist("test", "symmetric", limit=30).images, dtype=torch.float32)
    copies = subset[torch.arange(30) % 20] + 0.01 * torch.randn(30, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    record = {"snapshots": {5: {"samples": test, "train_loss": torch.tensor(0.2), "test_loss": torch.tensor(0.3)},
                            10: {"samples": copies, "train_loss": torch.tensor(0.1), "test_loss": torch.tensor(0.4)}}}
    rows = memorize.snapshot_rows(record, subset, threshold=1 / 3, n=20)
    assert [r["step"] for r in rows] == [5, 10] and all(r["n"] == 20 for r in rows)
    assert rows[0]["memorized"] == 0.0 and rows[1]["memorized"] == 1.0
    assert rows[1]["median_ratio"] < 0.05 < rows[0]["median_ratio"]
    assert rows[1]["train_loss"] == pytest.approx(0.1) and math.isnan(rows[1]["fid"])
    control = memorize.control_row(subset, test, 30, threshold=1 / 3, n=20)
    assert control["memorized"] == 0.0


def test_training_subset_is_seeded():
    a, b = memorize.training_subset(15, 0), memorize.training_subset(15, 0)
    assert torch.equal(a, b) and a.shape == (15, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, memorize.training_subset(15, 1))


def test_one_tiny_run_records_snapshots_and_rows():
    cfg = memorize.MemorizationStudyConfig.for_profile("smoke", sizes=(6,), capacities=(8,), capacity_size=6,
                                                       n_seeds=1, steps=4, snapshot_steps=(2, 4), n_samples=4,
                                                       sampler_steps=2, n_loss=8, batch_size=4, n_fid=6,
                                                       fid_bootstrap=3, device="cpu")
    out = memorize.run_memorization(cfg, log=lambda m: None, progress=False)
    assert [(r["n"], r["width"], r["step"]) for r in out["rows"]] == [(6, 8, 2), (6, 8, 4)]
    assert all(np.isfinite(r["fid"]) and 0 <= r["memorized"] <= 1 for r in out["rows"])
    samples, report, subset = out["last"][6, 8, 0]
    assert samples.shape == (4, 1, 28, 28) and report["nearest"].shape == (4, 2) and subset.shape[0] == 6
    assert len(out["controls"]) == 1
    (fid,) = out["fids"]  # the final model of the size sweep, at N = n_fid
    assert (fid["n"], fid["width"], fid["step"], fid["N"]) == (6, 8, 4, 6)
    assert np.isfinite(fid["fid"]) and fid["fid"] >= 0 and fid["fid_se"] > 0
    again = memorize.run_memorization(cfg, log=lambda m: None, progress=False)
    assert again["fids"] == out["fids"]  # cached samples, seeded bootstrap

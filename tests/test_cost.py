"""The profile cost counter: its work counts against hand computations from the configs, and its arithmetic."""

import pytest

from probgen import cost


def by(items, chapter, what_start):
    (item,) = [w for w in items if w.chapter == chapter and w.what.startswith(what_start)]
    return item


def test_the_full_profile_work_is_counted_from_the_configs():
    items = cost.work_items("full")
    # DDPM: 60 epochs of ceil(60000 / 256) = 235 steps, three U-Nets, batch 256
    assert by(items, "02_ddpm", "3 U-Nets").images == 3 * 60 * 235 * 256
    # samplers: 10 000 ancestral × 1000, DDIM k ∈ {10, 20, 50, 100} at η ∈ {0, 1}, the variants' DDIM-100 and -10
    assert by(items, "02_ddpm", "ancestral").images == 10_000 * 1000 + 2 * 10_000 * 180 + 2 * 10_000 * 110
    # score SDEs: 3 × 10 000 × (EM 1350 + PC 2700 + PF-Heun 19 + 49 + 99 + 199)
    assert by(items, "05_flows", "3 score SDEs").images == 3 * 10_000 * (1350 + 2700 + 366)
    # reflow: min(10 000 epochs of ceil(50 000 / 256) = 196 steps, 20 000) = 20 000 steps
    assert by(items, "05_flows", "flow + 3").images == (4 * 14_100 + 20_000) * 256
    # memorization: (10, 100, 1000, 10 000, 60 000) at width 32 and widths 8, 16, 64 at n = 1000, 3 seeds
    assert by(items, "06_diffusion_struggles", "memorization, width 32: 15").images == 15 * 20_000 * 128
    assert by(items, "06_diffusion_struggles", "memorization, width 8: 3").images == 3 * 20_000 * 128
    # toy sweep: 4 families × 6 difficulties × 5 seeds, a DDPM and a flow each, 5 000 steps of 256
    assert by(items, "06_diffusion_struggles", "toy sweep: 240").images == 240 * 5_000 * 256
    # CFG: 3 models × Σ_w 10 000 × 50 × (2 where w ≠ 0): six scales, one of them 0
    assert by(items, "04_guidance", "CFG").images == 3 * 10_000 * 50 * 11


def test_hours_are_work_over_speed(monkeypatch):
    net = cost._timemlp(2, 8, 1, 8)
    monkeypatch.setattr(cost, "work_items", lambda profile: [
        cost.Work("a", "x", net, "train", 3600 * 100, 32), cost.Work("a", "y", net, "forward", 3600 * 400, 32)])
    monkeypatch.setattr(cost, "measure", lambda net, batch=32, steps=2, device="cpu": {
        "train_img_s": 100.0, "forward_img_s": 200.0, "flops_per_image": 1e12, "forward_kernels": 10})
    (row,) = cost.table("smoke", threads=1, log=lambda m: None)
    assert row["cpu_h"] == pytest.approx(1 + 2)
    # GPU: 3 × 1e12 FLOPs per training image-step and 1e12 per forward pass at the assumed rates
    expected = (3600 * 100 * 3e12 / (cost.ASSUMED_GPU_TFLOPS["train"] * 1e12)
                + 3600 * 400 * 1e12 / (cost.ASSUMED_GPU_TFLOPS["forward"] * 1e12)) / 3600
    assert row["gpu_h"] == pytest.approx(expected)
    assert "| a |" in cost.markdown([row], "smoke", 1)


def test_a_measurement_counts_flops_and_speeds():
    out = cost.measure(cost._timemlp(2, 16, 2, 8), batch=8, steps=1)
    assert out["train_img_s"] > 0 and out["forward_img_s"] > 0
    # a TimeMLP's linear layers: at least the 2·16·16 multiply-adds of one hidden layer per image
    assert out["flops_per_image"] >= 2 * 16 * 16


def test_a_small_network_is_bound_by_kernel_launches_not_flops(monkeypatch):
    net = cost._timemlp(2, 8, 1, 8)
    monkeypatch.setattr(cost, "work_items", lambda profile: [cost.Work("a", "x", net, "train", 1e6, 100)])
    monkeypatch.setattr(cost, "measure", lambda net, batch=32, steps=2, device="cpu": {
        "train_img_s": 100.0, "forward_img_s": 200.0, "flops_per_image": 1e3, "forward_kernels": 10})
    (row,) = cost.table("smoke", threads=1, log=lambda m: None)
    # 10 000 training steps × (3 × 10 + the optimizer's) kernels × the host cost of a kernel
    launch_h = 1e4 * (30 + cost.OPTIMIZER_KERNELS) * cost.ASSUMED_GPU_KERNEL_S / 3600
    assert row["gpu_h"] == pytest.approx(launch_h) and row["gpu_launch_bound_h"] == pytest.approx(launch_h)
    (item,) = cost.gpu_items("smoke", measured={net.name: {"flops_per_image": 1e3, "forward_kernels": 10}})
    assert item["launch_h"] == pytest.approx(launch_h) and item["compute_h"] < launch_h


def test_kernels_are_counted_without_views():
    import torch

    # Linear on a matrix: addmm (its weight's transpose is a view), then relu: two kernels
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
    assert cost.count_kernels(net, (torch.randn(5, 3),)) == 2
    assert cost.counts(net, (torch.randn(5, 3),))["flops_per_image"] == 2 * 3 * 4


def test_a_gpu_report_scales_each_u_net_by_its_flops_without_timing_the_reference(monkeypatch):
    from probgen.diffusion.study import DDPMStudyConfig

    net = cost._ddpm_unet(DDPMStudyConfig.for_profile("smoke"))
    monkeypatch.setattr(cost, "work_items", lambda profile: [cost.Work("a", "x", net, "train", 3600 * 1000, 256)])
    monkeypatch.setattr(cost, "measure", lambda net, batch=32, steps=2, device="cpu": {
        "train_img_s": 10.0, "forward_img_s": 20.0, "flops_per_image": 2e9, "forward_kernels": 1})
    monkeypatch.setattr(cost, "counts", lambda module, inputs: {"flops_per_image": 1e9, "forward_kernels": 1})
    report = {"steps": {"bench": {"rows": [
        {"profile": "full", "mode": "bf16", "train_img_per_s": 500.0, "nograd_img_per_s": 1500.0},
        {"profile": "full", "mode": "fp32", "train_img_per_s": 300.0, "nograd_img_per_s": 1000.0}]}}}
    (row,) = cost.table("smoke", threads=1, gpu_report=report, log=lambda m: None)
    # the reference U-Net (1e9 FLOPs) trains at 500 img/s under bf16, so this one (2e9) at 250: 3.6 M / 250 s = 4 h
    assert row["gpu_basis"] == "GPU check" and row["gpu_h"] == pytest.approx(3600 * 1000 / 250 / 3600)

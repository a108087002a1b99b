"""The prepared GPU check, run on the CPU: its path end to end on the smoke configuration, and the wheel list."""

import json

import pytest

from probgen import gpucheck


def test_the_check_runs_end_to_end_on_the_cpu_and_reports_every_step(tmp_path):
    report = gpucheck.check(tmp_path / "out", "cpu", budget_s=300, notebooks=False, bench_steps=1, ddpm_steps=3,
                            bench_profiles=("smoke",), modes=("fp32", "bf16"), ddpm_profile="smoke")
    saved = json.loads((tmp_path / "out" / "gpucheck.json").read_text())
    assert saved["env"]["device"].startswith("cpu") and saved["env"]["torch"]
    steps = saved["steps"]
    assert steps["notebooks"]["note"].startswith("not asked for")
    assert not any("error" in s for s in steps.values()), steps
    rows = steps["bench"]["rows"]
    assert [(r["profile"], r["mode"]) for r in rows] == [("smoke", "fp32"), ("smoke", "bf16")]
    assert all(r["train_img_per_s"] > 0 and r["nograd_img_per_s"] > 0 for r in rows)
    cost = steps["ddpm_full"]["result"]
    assert cost["steps"] == 3 and cost["timed_steps"] == 2 and cost["precision"] == "fp32"
    # the epoch time is the measured step time times the steps of an epoch, the full cost that times the epochs
    assert cost["epoch_s"] == pytest.approx(cost["steps_per_epoch"] * cost["step_s"], rel=1e-12)
    assert cost["full_training_h"] == pytest.approx(cost["epochs"] * cost["epoch_s"] / 3600, rel=1e-12)
    md = (tmp_path / "out" / "gpucheck.md").read_text()
    assert "## U-Net speed" in md and "| smoke |" in md and "## Full DDPM training cost" in md
    assert report["wall_s"] > 0


def test_a_step_that_fails_is_recorded_and_the_next_one_runs(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access")

    monkeypatch.setattr(gpucheck, "bench_unet", broken)
    report = gpucheck.check(tmp_path, "cpu", budget_s=300, notebooks=False, ddpm_steps=2, ddpm_profile="smoke")
    assert report["steps"]["bench"]["error"] == "RuntimeError: CUDA error: an illegal memory access"
    assert report["steps"]["ddpm_full"]["result"]["steps"] == 2
    assert gpucheck.main(["run", "--out", str(tmp_path / "again"), "--device", "cpu", "--no-notebooks",
                          "--ddpm-steps", "2", "--budget-s", "0"]) == 0  # no budget: steps skipped, not failed
    again = json.loads((tmp_path / "again" / "gpucheck.json").read_text())
    assert again["steps"]["bench"]["note"].startswith("skipped: ")


def test_the_wheel_list_is_the_notebooks_closure_minus_the_gpu_image():
    need = gpucheck.closure()
    for name in ("papermill", "nbclient", "ipykernel", "pyro-ppl", "arviz", "pymunk", "pyzmq", "tornado"):
        assert name in need, name
    for name in ("torch", "numpy", "pandas", "scipy", "matplotlib", "jinja2", "pyyaml", "tqdm"):
        assert name not in need, name  # the GPU image has them: never carried
    assert "pywin32" not in need and "appnope" not in need  # markers evaluated for Linux
    # every dependency of a carried package is carried or on the image
    from importlib import metadata

    from packaging.requirements import Requirement

    for name in need:
        for text in metadata.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(gpucheck.GPU_PYTHON):
                dep = gpucheck._canonical(req.name)
                assert dep in need or dep in gpucheck.GPU_IMAGE, f"{name} needs {dep}"
    assert gpucheck.missing(["papermill", "no-such-package-xyz"]) == ["no-such-package-xyz"]


@pytest.mark.slow
def test_the_notebook_step_runs_a_chapter_at_smoke_into_its_own_folder(tmp_path):
    rows = gpucheck.run_notebooks(tmp_path, "cpu", timeout_s=600, names=["09_trueskill"])
    assert rows[0]["notebook"] == "09_trueskill" and rows[0]["status"] == "done", rows
    assert (tmp_path / "executed" / "09_trueskill.ipynb").exists()
    assert json.loads((tmp_path / "results" / "smoke" / "09_trueskill.json").read_text())["headlines"]


def test_the_benchmark_leaves_the_full_ddpm_its_share_of_the_budget(tmp_path, monkeypatch):
    clock = [0.0]

    class FakeTime:
        @staticmethod
        def perf_counter():
            return clock[0]

    def slow_bench(profile, mode, device, *, steps):
        clock[0] += 100.0  # each timing eats 100 s of a 480 s budget (a CPU compiling the full U-Net)
        return {"profile": profile, "mode": mode, "train_img_per_s": 1.0, "nograd_img_per_s": 1.0}

    monkeypatch.setattr(gpucheck, "time", FakeTime)
    monkeypatch.setattr(gpucheck, "bench_unet", slow_bench)
    monkeypatch.setattr(gpucheck, "ddpm_full_cost", lambda *a, **k: {"steps": 5})
    monkeypatch.setattr(gpucheck, "_markdown", lambda report: "")  # the fakes lack the table's fields
    report = gpucheck.check(tmp_path, "cpu", budget_s=480, notebooks=False)
    # 4 timings started with 480, 380, 280, 180 s left (each ≥ 30 + the 120 s reserve); at 80 s left the other
    # two are skipped and the DDPM still measured (without the reserve, a fifth timing would have left it −20 s)
    assert len(report["steps"]["bench"]["rows"]) == 4 and len(report["bench_skipped"]) == 2
    assert report["steps"]["ddpm_full"]["result"] == {"steps": 5}

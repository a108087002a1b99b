"""`train_diffusion` under torchrun with DistributedDataParallel, on the CPU with gloo and two processes.

The global batch (64) is shared between the processes; gradients are averaged so that a step is the step of
the whole batch; rank 0 alone writes checkpoints; a killed job resumes from the last one.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from . import ddp_job

JOB = Path(ddp_job.__file__)


def torchrun(out: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROBGEN_CACHE": str(cache), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(JOB.parents[2]), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(JOB), str(out), *extra], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_two_processes_train_like_one_resume_after_a_kill_and_share_the_cache_key(tmp_path, monkeypatch):
    done = torchrun(tmp_path / "ddp.json", tmp_path / "cache-ddp")
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp.json").read_text())
    assert ddp["world"] == 2 and ddp["step"] == 60 and len(ddp["history_loss"]) == 12

    # Killed at rank 0's 33rd step (a checkpoint after every step), then started again: it resumes from step 32
    # and ends with the same weights as the uninterrupted job, bit for bit.
    killed = torchrun(tmp_path / "killed.json", tmp_path / "cache-killed", "--die-at", "33")
    assert killed.returncode != 0 and not (tmp_path / "killed.json").exists()
    again = torchrun(tmp_path / "killed.json", tmp_path / "cache-killed")
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads((tmp_path / "killed.json").read_text())
    assert any("resuming ddpm from step 32" in m for m in resumed["logs"]), resumed["logs"]
    assert resumed["weights"] == ddp["weights"] and resumed["losses"] == ddp["losses"]

    # Where a step's t and noise do not depend on which process drew them (--fixed-noise), two processes
    # take the steps one process takes, up to the rounding of summing the gradient in two halves: float32
    # over 60 Adam steps, measured 4e-8 relative on the epoch losses and 2.2e-7 of a tensor's largest weight;
    # allowed 1e-6 and 1e-5 (a step that missed the other process's half of the batch moves them by percents).
    fixed = torchrun(tmp_path / "fixed.json", tmp_path / "cache-fixed", "--fixed-noise")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    two = json.loads((tmp_path / "fixed.json").read_text())
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "cache-single"))
    with monkeypatch.context() as patch:
        patch.setattr(ddp_job.DDPM, "loss", ddp_job.fixed_noise_loss)
        single_model, single_record = ddp_job.train()
    one = ddp_job.summary(single_model, single_record)
    a, b = (torch.tensor(r["history_loss"], dtype=torch.float64) for r in (one, two))
    assert a[-1] < 0.8 * a[0]  # it learns
    torch.testing.assert_close(b, a, rtol=1e-6, atol=0)  # the loss curve
    for k, w in one["weights"].items():
        w, v = torch.tensor(w), torch.tensor(two["weights"][k])
        torch.testing.assert_close(v, w, rtol=0, atol=1e-5 * w.abs().max().item(), msg=k)
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "cache-ddp"))

    # the job wrote under the key a single process of that global batch writes under: the single run loads it
    logs = []
    loaded, _ = ddp_job.train(log=logs.append)
    assert any("loaded ddpm from cache" in m for m in logs)
    assert {k: v.flatten().tolist() for k, v in loaded.network.state_dict().items()} == ddp["weights"]

"""A small DDPM trained by `train_diffusion` under torchrun (run by test_training_ddp.py, not collected by pytest).

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/diffusion/ddp_job.py OUT.json [--die-at K]

With --die-at K, rank 0 dies (os._exit) at its K-th loss evaluation, as a killed job would. With --fixed-noise,
every example's t and noise are functions of the example (`fixed_noise_loss`), so a run's steps do not depend
on which process drew them and a two-process job must take the steps of one process.
Rank 0 writes OUT.json: the per-epoch losses, the 50-step block losses, the steps and the EMA weights.
"""

import json
import os
import sys

import torch

from probgen.diffusion import DDPM, NoiseSchedule, TrainConfig, train_diffusion
from probgen.nets import TimeMLP

CFG = TrainConfig(epochs=12, batch_size=64, lr=3e-3, ema_decay=0.9, seed=0, device="cpu", save_every_s=0.0)
KEY = {"net": "timemlp-32", "T": 50}


def data() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.0, 0.0], [-2.0, 1.0]])
    return centres[torch.randint(0, 2, (300,), generator=g)] + 0.3 * torch.randn(300, 2, generator=g)


def build() -> DDPM:
    torch.manual_seed(0)
    return DDPM(TimeMLP(dim=2, hidden=32, layers=2, time_dim=16), NoiseSchedule.linear(50, 1e-3, 0.2))


def train(cfg=CFG, log=lambda m: None):
    return train_diffusion("ddpm", KEY, build, cfg, data(), log=log, progress=False)


def fixed_noise_loss(self, x0, y=None, generator=None):
    """DDPM's simplified loss with each example's t and ε derived from the example itself (no generator)."""
    t = (x0.abs().sum(1) * 997).long() % self.schedule.T
    eps = torch.sin(1000.0 * x0)
    a = self.schedule.alpha_bars[t].float().unsqueeze(1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    return ((self.network(x_t, t) - eps) ** 2).mean()


def summary(model, record) -> dict:
    return {"history_loss": record["history"]["loss"], "losses": record["losses"], "step": record["step"],
            "weights": {k: v.flatten().tolist() for k, v in model.network.state_dict().items()}}


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = sys.argv[1]
    if "--fixed-noise" in sys.argv:
        DDPM.loss = fixed_noise_loss
    if "--die-at" in sys.argv and os.environ.get("RANK") == "0":
        die_at, calls, real = int(sys.argv[sys.argv.index("--die-at") + 1]), [0], DDPM.loss

        def dying(self, *args, **kwargs):
            calls[0] += 1
            if calls[0] == die_at:
                os._exit(17)
            return real(self, *args, **kwargs)

        DDPM.loss = dying
    logs = []
    model, record = train(log=logs.append)
    if os.environ.get("RANK") == "0":
        with open(out, "w") as fh:
            json.dump({**summary(model, record), "logs": logs, "world": int(os.environ["WORLD_SIZE"])}, fh)

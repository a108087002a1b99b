"""Our U-Net against diffusers' UNet2DModel of the same size, and the trainer's overhead over its steps.

    pip install diffusers==0.42.1        # benchmark-only (pip install -e ".[bench]"); not a report dependency
    OMP_NUM_THREADS=1 python bench/unet_vs_diffusers.py [--device auto|cpu|cuda] [--threads 1] [--repeats 5]
        [--steps 3] [--full-batch 32] [--quick-batch 64]

Two sizes, each ours against diffusers with the same widths, depth, attention resolutions and heads:
- full: our full DDPM configuration (base 64, widths 64-128-128, two residual blocks per level, attention at
  14 and 7) against UNet2DModel(block_out_channels=(64, 128, 128), layers_per_block=2, attention in the two
  lower blocks);
- quick: our quick configuration (28×28 folded to 4×14×14, widths 32-64, one block per level, attention at 7)
  against UNet2DModel on the same folded 4×14×14 input (pixel_unshuffle outside the model, as ours does inside).

For each: training img/s (forward, MSE to the noise, backward, Adam step) and no-grad img/s, the two models
timed in turn (interleaved), best of --repeats, and their ratio (ours / diffusers; above 1: ours is faster).
Then, for our quick configuration on MNIST: the time of the trainer's step loop (its own epoch clock) for
--trainer-steps steps against the same number of bare steps (goal ≤ 1.10: EMA, data gathering, learning-rate
schedule and logging cost at most 10 %), its one-off cost per run, and the data gathering rate (img/s of indexing a batch out of the training tensor). Timings depend on the machine and its
load: the ratio of interleaved runs is the number to quote.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from probgen.diffusion import DDPM, NoiseSchedule, TrainConfig, train_diffusion
from probgen.diffusion.study import DDPMStudyConfig, load_training_data
from probgen.nets import UNet
from probgen.runtime import best_time, device_description, resolve_device


def diffusers_unet(size: str):
    from diffusers import UNet2DModel

    if size == "full":
        return UNet2DModel(sample_size=28, in_channels=1, out_channels=1, block_out_channels=(64, 128, 128),
                           layers_per_block=2, down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                           up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8,
                           attention_head_dim=32)
    return UNet2DModel(sample_size=14, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                       norm_num_groups=8, attention_head_dim=16)


class Theirs(torch.nn.Module):
    """diffusers' model behind our call signature net(x, t), folding 28×28 to 4×14×14 for the quick size."""

    def __init__(self, size: str):
        super().__init__()
        self.fold = size == "quick"
        self.net = diffusers_unet(size)

    def forward(self, x, t):
        if self.fold:
            return F.pixel_shuffle(self.net(F.pixel_unshuffle(x, 2), t).sample, 2)
        return self.net(x, t).sample


def ours(size: str) -> UNet:
    return UNet(DDPMStudyConfig.for_profile(size).unet())


def n_params(net) -> float:
    return sum(p.numel() for p in net.parameters()) / 1e6


def make_step(net, batch: int, device: str):
    """(train k steps, forward k steps) closures for `net` on random images at `batch`."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    eps = torch.randn(batch, 1, 28, 28, generator=g).to(device)
    t = torch.randint(0, 1000, (batch,), generator=g).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)

    def train(k):
        for _ in range(k):
            loss = F.mse_loss(net(x, t), eps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def forward(k):
        with torch.no_grad():
            for _ in range(k):
                net(x, t)

    return train, forward


def compare(size: str, batch: int, steps: int, repeats: int, device: str) -> dict:
    torch.manual_seed(0)
    nets = {"ours": ours(size), "diffusers": Theirs(size)}
    closures = {}
    for name, net in nets.items():
        net.to(device, memory_format=torch.channels_last).train()
        closures[name] = make_step(net, batch, device)
        closures[name][0](1)  # warm-up
        closures[name][1](1)
    best = {(name, kind): float("inf") for name in nets for kind in ("train", "forward")}
    for _ in range(repeats):  # interleaved: both models see the same machine state
        for name in nets:
            for kind, fn in zip(("train", "forward"), closures[name]):
                best[name, kind] = min(best[name, kind], best_time(lambda: fn(steps), device, 1))
    row = {"size": size, "batch": batch, "params_M_ours": n_params(nets["ours"]),
           "params_M_diffusers": n_params(nets["diffusers"])}
    for kind in ("train", "forward"):
        for name in nets:
            row[f"{kind}_img_s_{name}"] = batch * steps / best[name, kind]
        row[f"{kind}_ratio"] = best["diffusers", kind] / best["ours", kind]
    return row


def trainer_overhead(steps: int, repeats: int, device: str) -> dict:
    """Our trainer's wall time for `steps` steps of the quick DDPM against `steps` bare steps of the same work
    (DDPM.loss, backward, Adam), and the data gathering rate."""
    import tempfile

    cfg = DDPMStudyConfig.for_profile("quick", device=device)
    x, _ = load_training_data(cfg)
    schedule = NoiseSchedule.from_config(cfg.schedule_config())

    def build():
        torch.manual_seed(0)
        return DDPM(UNet(cfg.unet()), schedule, clip_x0=1.0)

    model = build()
    model.network.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.network.parameters(), lr=cfg.lr)
    batch = x[:cfg.batch_size].to(device).contiguous(memory_format=torch.channels_last)

    def bare():
        for s in range(steps):
            loss = model.loss(batch, generator=torch.Generator(device=device).manual_seed(s))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    bare()  # warm-up
    bare_s = best_time(bare, device, repeats)
    trainer_s = float("inf")
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            import os

            os.environ["PROBGEN_CACHE"] = cache
            tcfg = TrainConfig(epochs=1, batch_size=cfg.batch_size, lr=cfg.lr, max_steps=steps, seed=r,
                               device=device, save_every_s=1e9)
            start = time.perf_counter()
            _, record = train_diffusion("bench-ddpm", {"bench": r}, build, tcfg, x, log=lambda m: None,
                                        progress=False)
            wall = time.perf_counter() - start
            epoch_s = record["history"]["seconds"][-1]  # the trainer's clock around its step loop
            if epoch_s < trainer_s:
                trainer_s, setup_s = epoch_s, wall - epoch_s
    x_dev = x.to(device)
    idx = torch.randperm(x.shape[0])[:cfg.batch_size * 50].to(device)

    def gather():
        for b in range(50):
            x_dev[idx[b * cfg.batch_size:(b + 1) * cfg.batch_size]].contiguous(memory_format=torch.channels_last)

    gather_s = best_time(gather, device, repeats)
    return {"steps": steps, "batch": cfg.batch_size, "bare_s": bare_s, "trainer_s": trainer_s, "setup_s": setup_s,
            "trainer_over_bare": trainer_s / bare_s, "gather_img_s": 50 * cfg.batch_size / gather_s}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (best is kept)")
    parser.add_argument("--steps", type=int, default=3, help="steps per timed round")
    parser.add_argument("--full-batch", type=int, default=32)
    parser.add_argument("--quick-batch", type=int, default=64)
    parser.add_argument("--trainer-steps", type=int, default=40)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    print(f"# {device_description(device)}, {platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), best of {args.repeats} interleaved rounds of {args.steps} steps\n")
    print("| size | batch | params ours (M) | params diffusers (M) | train img/s ours | diffusers | ratio "
          "| no-grad img/s ours | diffusers | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size, batch in (("quick", args.quick_batch), ("full", args.full_batch)):
        r = compare(size, batch, args.steps, args.repeats, device)
        print(f"| {size} | {batch} | {r['params_M_ours']:.2f} | {r['params_M_diffusers']:.2f} | "
              f"{r['train_img_s_ours']:.0f} | {r['train_img_s_diffusers']:.0f} | {r['train_ratio']:.2f} | "
              f"{r['forward_img_s_ours']:.0f} | {r['forward_img_s_diffusers']:.0f} | {r['forward_ratio']:.2f} |",
              flush=True)
    o = trainer_overhead(args.trainer_steps, min(args.repeats, 3), device)
    print(f"\ntrainer, quick DDPM on MNIST, {o['steps']} steps of batch {o['batch']}: its step loop took "
          f"{o['trainer_s']:.2f} s against {o['bare_s']:.2f} s of bare steps: {o['trainer_over_bare']:.3f} (goal ≤ 1.10), "
          f"plus {o['setup_s']:.2f} s once per run (model, data fingerprint, final checkpoint); "
          f"data gathering {o['gather_img_s']:.0f} img/s")


if __name__ == "__main__":
    main()

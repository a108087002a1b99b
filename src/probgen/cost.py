"""What a profile costs: each chapter's network work, counted from its configuration, times measured speeds.

    python -m probgen.cost [--profile full] [--gpu-report DIR/gpucheck.json] [--threads 2] [--markdown]

For every chapter the work is counted from the chapter's own configuration (the same dataclasses the notebooks
build): each network trained (training image-steps: steps × batch) and each sampler (forward passes: samples ×
network evaluations). Each network's speed is measured here, on this machine's CPU, with a few timed steps of
the very network at a small batch (train img/s; forward img/s), and its floating-point operations per image are
counted with torch's FlopCounterMode. Then:

- CPU hours = Σ work / measured CPU speed (this machine, --threads threads);
- GPU hours (one H100-class GPU) = Σ max(compute time, launch time) per piece of work, where
  compute time = work × FLOPs per image / an assumed sustained rate (ASSUMED_GPU_TFLOPS: bf16 training, fp32/TF32
  sampling), unless --gpu-report gives the speeds the GPU check measured for the U-Nets, from which every U-Net's
  rate is scaled by its FLOPs; and launch time = calls × kernels per call × ASSUMED_GPU_KERNEL_S, the floor a small
  network at a small batch cannot go below however fast the GPU is (eager PyTorch issues one kernel per operator;
  the kernels of a forward pass are counted here, a training step issues about three times as many).

The non-neural chapters (GP, TrueSkill, walker) and small evaluation passes (FID features, validation) are left
out: they are minutes on a CPU at every profile. `--profile quick` prints the same table for the quick profile,
which can be held against the measured quick wall times of `results/reference/quick/` to see how far the count
is from the truth (`compare_quick`).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Sustained throughput assumed for an H100-class GPU where no measurement exists: about a third of the dense bf16
# (989 TFLOP/s) and TF32 (495 TFLOP/s) peaks, which small convolutional nets at batch ≥ 256 rarely exceed.
ASSUMED_GPU_TFLOPS = {"train": 300.0, "forward": 150.0}
# Host-side cost of one eager CUDA kernel (dispatcher + launch), where a small network is bound by launches rather
# than arithmetic: about 10 µs per operator in eager PyTorch (CUDA graphs or torch.compile lower it).
ASSUMED_GPU_KERNEL_S = 10e-6
OPTIMIZER_KERNELS = 20  # a foreach Adam step: a few multi-tensor kernels per parameter group, whatever the net
MNIST_TRAINVAL, MNIST_TRAIN = 60_000, 50_000


@dataclass(frozen=True)
class Net:
    """A network whose speed is measured: a name and how to build it with an example input."""

    name: str
    build: Callable  # () -> (module, example inputs for batch b: callable b -> tuple of tensors)


@dataclass(frozen=True)
class Work:
    chapter: str
    what: str
    net: Net
    kind: str  # "train" (image-steps) | "forward" (forward passes)
    images: float  # images through the network (train: steps × batch)
    batch: int = 256  # the batch the work runs at (small networks are far slower per image at small batches)


def _unet(config) -> Net:
    """A chapter's U-Net, from the very `UNetConfig` the chapter trains (named by the fields that differ from the
    defaults)."""
    from dataclasses import fields

    def build():
        import torch

        from .nets import UNet

        net = UNet(config)

        def inputs(b):
            return (torch.randn(b, config.in_channels, config.image_size, config.image_size),
                    torch.randint(0, 1000, (b,)))

        return net, inputs

    changed = [f"{f.name}={getattr(config, f.name)}" for f in fields(config)
               if getattr(config, f.name) != f.default]
    return Net(f"U-Net({','.join(changed)})", build)


def _timemlp(dim: int, hidden: int, layers: int, time_dim: int = 64) -> Net:
    def build():
        import torch

        from .nets import TimeMLP

        net = TimeMLP(dim=dim, hidden=hidden, layers=layers, time_dim=time_dim)
        return net, lambda b: (torch.randn(b, dim), torch.randint(0, 1000, (b,)))

    return Net(f"TimeMLP({dim}, {hidden}×{layers})", build)


def _mlp_autoencoder(hidden: tuple, latent: int) -> Net:
    """An MLP VAE's encoder and decoder layers (784 → hidden → 2·latent; latent → hidden → 784): its cost."""

    def build():
        import torch
        from torch import nn

        sizes = [784, *hidden]
        enc = [layer for a, b in zip(sizes, sizes[1:]) for layer in (nn.Linear(a, b), nn.ReLU())]
        dec_sizes = [latent, *reversed(hidden)]
        dec = [layer for a, b in zip(dec_sizes, dec_sizes[1:]) for layer in (nn.Linear(a, b), nn.ReLU())]

        class AE(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = nn.Sequential(*enc, nn.Linear(sizes[-1], 2 * latent))
                self.dec = nn.Sequential(*dec, nn.Linear(dec_sizes[-1], 784))

            def forward(self, x, t=None):
                return self.dec(self.enc(x)[:, :latent])

        return AE(), lambda b: (torch.rand(b, 784),)

    return Net(f"MLP VAE(784-{'-'.join(map(str, hidden))}-{latent})", build)


def _decoder(hidden: tuple, latent: int) -> Net:
    def build():
        import torch
        from torch import nn

        sizes = [latent, *reversed(hidden)]
        layers = [layer for a, b in zip(sizes, sizes[1:]) for layer in (nn.Linear(a, b), nn.ReLU())]
        return nn.Sequential(*layers, nn.Linear(sizes[-1], 784)), lambda b: (torch.randn(b, latent),)

    return Net(f"MLP decoder({latent}-{'-'.join(map(str, reversed(hidden)))}-784)", build)


def _steps(epochs: int, n: int, batch: int, max_steps: int | None) -> int:
    total = epochs * math.ceil(n / batch)
    return total if max_steps is None else min(total, max_steps)


# --- the chapters' work, from their configurations ------------------------------------------------------------

def _ddpm_unet(c) -> Net:
    return _unet(c.unet())


def work_items(profile: str) -> list[Work]:
    """Every counted piece of work of every chapter at `profile`."""
    from .diffusion.latent_study import LatentStudyConfig
    from .diffusion.study import DDPMStudyConfig
    from .flows.study import FlowStudyConfig
    from .struggles.memorize import MemorizationStudyConfig
    from .struggles.toy import ToyStudyConfig
    from .vae.study import BasicsConfig, PriorStudyConfig

    out: list[Work] = []
    add = out.append

    b = BasicsConfig.for_profile(profile)
    n = b.n_train or MNIST_TRAINVAL
    add(Work("01_vae_basics", f"VAE, {b.epochs} epochs", _mlp_autoencoder(tuple(b.hidden), b.latent_dim), "train",
             b.epochs * n, b.batch_size))
    add(Work("01_vae_basics", f"2-D VAE, {b.epochs_2d} epochs", _mlp_autoencoder(tuple(b.hidden), 2), "train",
             b.epochs_2d * n, b.batch_size))

    p = PriorStudyConfig.for_profile(profile)
    n, models = p.n_train or MNIST_TRAIN, len(p.priors) * p.n_seeds
    add(Work("01_vae_priors", f"{models} VAEs (priors × seeds), {p.epochs} epochs",
             _mlp_autoencoder(tuple(p.hidden), p.latent_dim), "train", models * p.epochs * n, p.batch_size))
    add(Work("01_vae_priors", f"{len(p.priors)} 2-D VAEs", _mlp_autoencoder(tuple(p.hidden), 2), "train",
             len(p.priors) * p.epochs * n, p.batch_size))
    n_test = p.iwae_images or p.n_test or 10_000
    add(Work("01_vae_priors", f"IWAE, k = {p.iwae_k}, {n_test} test images × {models} models",
             _decoder(tuple(p.hidden), p.latent_dim), "forward", models * n_test * p.iwae_k, 100))

    d = DDPMStudyConfig.for_profile(profile)
    unet, n = _ddpm_unet(d), d.n_train or MNIST_TRAINVAL
    steps = _steps(d.epochs, n, d.batch_size, d.max_steps)
    add(Work("02_ddpm", f"3 U-Nets (linear, cosine, dequantised) × {steps} steps", unet, "train",
             3 * steps * d.batch_size, d.batch_size))
    nfe = d.n_fid_ancestral * d.T + len(d.etas) * d.n_fid * sum(d.ddim_steps)
    nfe += 2 * d.n_fid * (max(d.ddim_steps) + min(d.ddim_steps))  # the two variants: their slowest and fastest DDIM
    add(Work("02_ddpm", "ancestral and DDIM samplers", unet, "forward", nfe, d.sample_batch))

    cond = _unet(d.unet(conditional=True))
    cond_steps = _steps(d.epochs, n, d.batch_size, d.cond_max_steps)
    add(Work("04_guidance", f"3 conditional U-Nets × {cond_steps} steps", cond, "train", 3 * cond_steps * d.batch_size,
             d.batch_size))
    n_cfg = 10 * d.n_per_class
    cfg_nfe = sum(n_cfg * d.guidance_steps * (2 if w else 1) for w in d.guidance_scales)
    add(Work("04_guidance", f"CFG sweep, 3 models × {len(d.guidance_scales)} scales", cond, "forward", 3 * cfg_nfe,
             d.sample_batch))
    add(Work("04_guidance", "classifier guidance", unet, "forward",
             len(d.cg_scales) * 10 * d.cg_per_class * d.cg_steps, d.sample_batch))

    lat = LatentStudyConfig.for_profile(profile)
    n = lat.n_train or MNIST_TRAINVAL
    add(Work("03_latent_ddpm", f"{len(lat.betas)} β-VAEs", _mlp_autoencoder(tuple(lat.vae_hidden), lat.latent_dim),
             "train", len(lat.betas) * lat.vae_epochs * n, lat.vae_batch_size))
    mlp = _timemlp(lat.latent_dim, lat.latent_hidden, lat.latent_layers)
    add(Work("03_latent_ddpm", f"{len(lat.betas)} latent DDPMs", mlp, "train", len(lat.betas) * lat.latent_epochs * n,
             lat.latent_batch_size))
    add(Work("03_latent_ddpm", "latent ancestral and DDIM samplers", mlp, "forward",
             len(lat.betas) * lat.n_fid_large * (lat.T + sum(d.ddim_steps)), lat.sample_batch))

    f = FlowStudyConfig.for_profile(profile)
    pix = _unet(d.unet().replace(time_scale=1000.0))  # flows.study._unet_config
    n = d.n_train or MNIST_TRAINVAL
    steps = _steps(d.epochs, n, d.batch_size, d.max_steps)
    reflow_steps = _steps(10_000, f.reflow_pairs, d.batch_size, f.reflow_max_steps)  # flows.study.train_reflow
    add(Work("05_flows", f"flow + {len(f.score_sdes)} score SDEs × {steps} steps, reflow × {reflow_steps}", pix,
             "train", ((1 + len(f.score_sdes)) * steps + reflow_steps) * d.batch_size, d.batch_size))
    flow_nfe = f.n_fid * (sum(f.euler_steps) + 2 * sum(f.heun_steps))
    sde_nfe = f.n_fid * (3 * sum(f.sde_steps) + sum(2 * k - 1 for k in f.pf_steps))  # EM: N, PC: 2N, PF-Heun: 2N−1
    add(Work("05_flows", "flow and reflow samplers; reflow pairs", pix, "forward",
             2 * flow_nfe + f.reflow_pairs * 2 * f.reflow_solver_steps, d.sample_batch))
    add(Work("05_flows", f"{len(f.score_sdes)} score SDEs × (EM, PC, PF) samplers", pix, "forward",
             len(f.score_sdes) * sde_nfe, d.sample_batch))
    add(Work("05_flows", "bits/dim (Heun, forward + VJP)", pix, "train", f.bpd_images * 2 * f.bpd_steps,
             f.bpd_images))
    lmlp = _timemlp(lat.latent_dim, lat.latent_hidden, lat.latent_layers)
    add(Work("05_flows", "latent flow and reflow", lmlp, "train", 2 * f.latent_epochs * MNIST_TRAINVAL,
             lat.latent_batch_size))
    add(Work("05_flows", "latent pairs and samplers", lmlp, "forward",
             f.latent_pairs * 100 + 2 * f.n_fid * sum(f.euler_steps), lat.sample_batch))

    t = ToyStudyConfig.for_profile(profile)
    toy = _timemlp(2, t.hidden, t.layers, 32)
    sweep = len(t.families) * len(t.difficulties) * t.n_seeds
    add(Work("06_diffusion_struggles", f"toy sweep: {2 * sweep} MLPs × {t.steps} steps", toy, "train",
             2 * sweep * t.steps * t.batch_size, t.batch_size))
    add(Work("06_diffusion_struggles", "toy sweep samplers (ancestral; Euler-100)", toy, "forward",
             sweep * t.n_samples * (t.T + 100), t.n_samples))
    rem = len(t.remedy_families) * t.remedy_n_seeds
    add(Work("06_diffusion_struggles", "toy remedies, width 128", toy, "train",
             rem * (t.steps + 2 * t.remedy_steps) * t.batch_size, t.batch_size))
    add(Work("06_diffusion_struggles", "toy remedies, wide", _timemlp(2, t.remedy_hidden, t.layers, 32), "train",
             rem * 2 * t.steps * t.batch_size, t.batch_size))
    m = MemorizationStudyConfig.for_profile(profile)
    pairs = {(s, m.base_channels) for s in m.sizes} | {(m.capacity_size, c) for c in m.capacities}
    for width in sorted({w for _, w in pairs}):
        runs = sum(1 for _, w in pairs if w == width) * m.n_seeds
        net = _unet(m.unet(width))
        add(Work("06_diffusion_struggles", f"memorization, width {width}: {runs} U-Nets × {m.steps} steps", net,
                 "train", runs * m.steps * m.batch_size, m.batch_size))
        add(Work("06_diffusion_struggles", f"memorization, width {width}: snapshots' samples", net, "forward",
                 runs * len(m.snapshot_steps) * m.n_samples * m.sampler_steps, m.n_samples))
    return out


# --- speeds -----------------------------------------------------------------------------------------------------

def measured_batch(item: Work) -> int:
    """The batch a speed is measured at: the work's own, capped for U-Nets (64: a CPU's throughput has levelled
    off by then, and a step of the full U-Net at 256 takes many seconds) and for the rest (1024)."""
    return min(item.batch, 64 if item.net.name.startswith("U-Net") else 1024)


def count_kernels(module, inputs: tuple) -> int:
    """Operators one forward pass dispatches that would each launch a kernel (views and other metadata-only
    operators left out): the launch count of an eager forward on a GPU."""
    from torch.utils._python_dispatch import TorchDispatchMode

    import torch

    class Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += 0 if func.is_view else 1
            return func(*args, **(kwargs or {}))

    with Counter() as counter, torch.no_grad():
        module(*inputs)
    return counter.n


def gpu_seconds(item: Work, flops_per_image: float, forward_kernels: int,
                rate_img_s: float | None = None) -> tuple[float, float]:
    """(compute, launch) seconds of `item` on one GPU: the work at the measured rate, or its FLOPs at the assumed
    rate; and its calls × kernels per call × the host cost of a kernel. The larger of the two is its time."""
    if rate_img_s is None:
        flops = flops_per_image * (3 if item.kind == "train" else 1)
        compute = item.images * flops / (ASSUMED_GPU_TFLOPS[item.kind] * 1e12)
    else:
        compute = item.images / rate_img_s
    launch = (item.images / item.batch) * kernels_per_call(item.kind, forward_kernels) * ASSUMED_GPU_KERNEL_S
    return compute, launch


def counts(module, inputs: tuple) -> dict:
    """Forward FLOPs per image (torch's FlopCounterMode) and kernels of one forward pass, on a small batch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(*inputs)
    return {"flops_per_image": counter.get_total_flops() / len(inputs[0]),
            "forward_kernels": count_kernels(module, inputs)}


def kernels_per_call(kind: str, forward_kernels: int) -> int:
    """Kernels one call issues: a forward pass, or a training step (forward, backward ≈ 2×, optimizer)."""
    return forward_kernels if kind == "forward" else 3 * forward_kernels + OPTIMIZER_KERNELS


def prepared(net: Net, batch: int, device: str = "cpu") -> tuple:
    """`net` built on `device` with inputs for `batch`, laid out as the chapters run it: images channels_last, as
    the trainer and the samplers run them."""
    import torch

    module, inputs = net.build()
    x = tuple(v.to(device) for v in inputs(batch))
    if x[0].ndim == 4:
        module.to(device, memory_format=torch.channels_last)
        x = (x[0].contiguous(memory_format=torch.channels_last), *x[1:])
    else:
        module.to(device)
    return module, x


def measure(net: Net, *, batch: int = 32, steps: int = 2, device: str = "cpu") -> dict:
    """Train and forward img/s of `net` on `device` (best of 2 rounds of `steps` after a warm-up), its forward
    FLOPs per image and the kernels of one forward pass."""
    import torch

    module, x = prepared(net, batch, device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    with torch.no_grad():
        target = module(*x)

    def train():
        for _ in range(steps):
            loss = ((module(*x) - target) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def forward():
        with torch.no_grad():
            for _ in range(steps):
                module(*x)

    from .runtime import best_time

    out = counts(module, tuple(v[:4] for v in x))
    for kind, fn in (("train", train), ("forward", forward)):
        fn()  # warm-up
        out[f"{kind}_img_s"] = batch * steps / best_time(fn, device, 2)
    return out


def gpu_rates(report: dict | None) -> dict:
    """{profile: {"train": img/s, "forward": img/s}} of the DDPM U-Nets measured by the GPU check (bf16, or
    bf16+compile for training where faster; fp32 for sampling, as the samplers run), or {}."""
    if not report:
        return {}
    rows = report.get("steps", {}).get("bench", {}).get("rows", [])
    rates: dict = {}
    for r in rows:
        entry = rates.setdefault(r["profile"], {"train": 0.0, "forward": 0.0})
        if r["mode"].startswith("bf16"):
            entry["train"] = max(entry["train"], r["train_img_per_s"])
        if r["mode"] == "fp32":
            entry["forward"] = r["nograd_img_per_s"]
    return rates


def table(profile: str = "full", *, threads: int = 2, gpu_report: dict | None = None, log=print) -> list[dict]:
    """One row per chapter: work (training image-steps, forward passes), CPU hours here, GPU hours estimated."""
    from .diffusion.study import DDPMStudyConfig
    from .runtime import torch_threads

    items = work_items(profile)
    speeds: dict[tuple, dict] = {}
    with torch_threads(threads):
        for item in items:
            key = (item.net.name, measured_batch(item))
            if key not in speeds:
                speeds[key] = measure(item.net, batch=key[1])
                log(f"measured {key[0]} at batch {key[1]}: {speeds[key]['train_img_s']:.0f} train img/s, "
                    f"{speeds[key]['forward_img_s']:.0f} forward img/s on the CPU")
    measured_gpu = gpu_rates(gpu_report)
    ref_flops = {}
    for prof in measured_gpu:  # the GPU check's U-Nets, to scale every U-Net's measured rate by FLOPs
        ref_flops[prof] = counts(*prepared(_ddpm_unet(DDPMStudyConfig.for_profile(prof)), 4))["flops_per_image"]
    rows: dict[str, dict] = {}
    for item in items:
        s = speeds[item.net.name, measured_batch(item)]
        row = rows.setdefault(item.chapter, {"chapter": item.chapter, "train_images": 0.0, "forward_images": 0.0,
                                             "cpu_h": 0.0, "gpu_h": 0.0, "gpu_launch_bound_h": 0.0,
                                             "gpu_basis": "assumed TFLOP/s"})
        row[f"{item.kind}_images"] += item.images
        row["cpu_h"] += item.images / s[f"{item.kind}_img_s"] / 3600
        rate = None
        if measured_gpu and item.net.name.startswith("U-Net"):
            prof = "full" if "full" in measured_gpu else next(iter(measured_gpu))
            rate = measured_gpu[prof][item.kind] * ref_flops[prof] / s["flops_per_image"]
            row["gpu_basis"] = "GPU check"
        compute_s, launch_s = gpu_seconds(item, s["flops_per_image"], s["forward_kernels"], rate)
        row["gpu_h"] += max(compute_s, launch_s) / 3600
        if launch_s > compute_s:
            row["gpu_launch_bound_h"] += launch_s / 3600
    return list(rows.values())


def gpu_items(profile: str = "full", *, measured: dict | None = None) -> list[dict]:
    """Each piece of work's GPU hours (compute and launch bound) without timing anything on the CPU: FLOPs and
    kernels are counted at batch 4. For resizing a profile: which pieces dominate its GPU time."""
    measured = {} if measured is None else measured
    out = []
    for item in work_items(profile):
        if item.net.name not in measured:
            measured[item.net.name] = counts(*prepared(item.net, 4))
        compute_s, launch_s = gpu_seconds(item, **measured[item.net.name])
        out.append({"chapter": item.chapter, "what": item.what, "kind": item.kind, "images": item.images,
                    "compute_h": compute_s / 3600, "launch_h": launch_s / 3600})
    return out


def markdown(rows: list[dict], profile: str, threads: int) -> str:
    lines = [f"| chapter ({profile}) | training image-steps | forward passes | CPU hours ({threads} cores, here) "
             f"| GPU hours (H100-class) | of which launch-bound |", "|---|---|---|---|---|---|"]
    for r in rows:
        basis = "" if r["gpu_basis"] == "GPU check" else " (assumed rate)"
        lines.append(f"| {r['chapter']} | {r['train_images'] / 1e6:.1f} M | {r['forward_images'] / 1e6:.1f} M | "
                     f"{r['cpu_h']:.1f} | {r['gpu_h']:.2f}{basis} | {r['gpu_launch_bound_h']:.2f} |")
    total_cpu, total_gpu = sum(r["cpu_h"] for r in rows), sum(r["gpu_h"] for r in rows)
    lines.append(f"| **all** | | | **{total_cpu:.0f}** | **{total_gpu:.1f}** | |")
    return "\n".join(lines) + "\n"


def compare_quick(rows: list[dict]) -> list[tuple[str, float, float | None]]:
    """(chapter, counted CPU seconds, measured wall seconds of the committed quick reference run)."""
    from .reference import reference_dir

    out = []
    for r in rows:
        path = reference_dir("quick") / f"{r['chapter']}.json"
        wall = json.loads(path.read_text())["manifest"].get("wall_time_s") if path.exists() else None
        out.append((r["chapter"], r["cpu_h"] * 3600, wall))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=["smoke", "quick", "full"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-report", type=Path, default=None, help="gpucheck.json of a GPU check")
    parser.add_argument("--gpu-items", action="store_true",
                        help="only each piece of work's estimated GPU hours (counts FLOPs and kernels; times nothing)")
    args = parser.parse_args(argv)
    if args.gpu_items:
        print(f"| chapter ({args.profile}) | work | images | GPU h, compute | GPU h, launches |\n|---|---|---|---|---|")
        for r in gpu_items(args.profile):
            print(f"| {r['chapter']} | {r['what']} | {r['images'] / 1e6:.1f} M | {r['compute_h']:.2f} | "
                  f"{r['launch_h']:.2f} |")
        return 0
    report = json.loads(args.gpu_report.read_text()) if args.gpu_report else None
    rows = table(args.profile, threads=args.threads, gpu_report=report)
    print()
    print(markdown(rows, args.profile, args.threads))
    if args.profile == "quick":
        print("| chapter | counted CPU s | measured quick wall s (reference run) |\n|---|---|---|")
        for chapter, counted, wall in compare_quick(rows):
            print(f"| {chapter} | {counted:.0f} | {'' if wall is None else f'{wall:.0f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

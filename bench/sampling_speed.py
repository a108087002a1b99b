"""What the quick report's sampling savings are worth: each saving as a ratio measured in one run.

    OMP_NUM_THREADS=2 python bench/sampling_speed.py [--batch 500] [--steps 25] [--repeats 3] [--compile]

The quick report's cost is dominated by sampling the MNIST U-Net for FIDs at N = 1000 (chapters 2-5). This
times DDIM sampling (`DDPM.ddim_sample`, --steps steps, η = 0) of the quick U-Net with random weights (speed does
not depend on the weights) in the variants below, best of --repeats, and prints ms per sample and the speed-up
over the first row, plus whether the samples are bit-identical to it:

- contiguous weights (how evaluation ran before);
- channels_last weights (what `train_diffusion` now returns; the input may stay contiguous);
- channels_last with torch.inference_mode instead of torch.no_grad;
- channels_last with a sampling batch of 100 instead of --batch;
- with --compile: channels_last and torch.compile (compile time reported separately).

Timings depend on the machine and its load; rerun before quoting.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from probgen.diffusion import DDPM, NoiseSchedule
from probgen.diffusion.study import DDPMStudyConfig
from probgen.nets import UNet


def _draw(model: DDPM, n: int, batch: int, steps: int, mode) -> torch.Tensor:
    out = []
    with mode():
        for i in range(0, n, batch):
            gen = torch.Generator().manual_seed(i)
            out.append(model.ddim_sample(min(batch, n - i), steps=steps, generator=gen))
    return torch.cat(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500, help="sampling batch (the quick profile's sample_batch)")
    parser.add_argument("--n", type=int, default=None, help="samples per timing (default: --batch)")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = parser.parse_args(argv)
    n = args.n or args.batch

    cfg = DDPMStudyConfig.for_profile("quick")
    torch.manual_seed(0)
    schedule = NoiseSchedule.from_config(cfg.schedule_config())
    state = UNet(cfg.unet()).state_dict()

    def model(channels_last: bool) -> DDPM:
        m = DDPM(UNet(cfg.unet()), schedule)
        m.network.load_state_dict(state)
        if channels_last:
            m.network.to(memory_format=torch.channels_last)
        m.network.eval()
        return m

    variants = [
        ("contiguous weights, no_grad", model(False), args.batch, torch.no_grad),
        ("channels_last weights, no_grad", model(True), args.batch, torch.no_grad),
        ("channels_last, inference_mode", model(True), args.batch, torch.inference_mode),
        ("channels_last, batch 100", model(True), 100, torch.no_grad),
    ]
    compile_s = None
    if args.compile:
        compiled = model(True)
        start = time.perf_counter()
        compiled.network = torch.compile(compiled.network)
        _draw(compiled, min(n, args.batch), args.batch, 2, torch.no_grad)
        compile_s = time.perf_counter() - start
        variants.append(("channels_last, torch.compile", compiled, args.batch, torch.no_grad))

    print(f"# DDIM sampling, quick U-Net, {args.steps} steps, N = {n}; torch {torch.__version__}, "
          f"{platform.machine()}, threads {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'variant':34s} {'ms/sample':>10s} {'speed-up':>9s}  same samples")
    base_t, base_x = None, None
    for name, m, batch, mode in variants:
        _draw(m, min(n, batch), batch, 2, mode)  # warm-up
        best, x = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            x = _draw(m, n, batch, args.steps, mode)
            best = min(best, time.perf_counter() - start)
        if base_t is None:
            base_t, base_x = best, x
        if batch != args.batch:
            same = "other noise (batches are seeded)"
        else:
            same = "yes" if torch.equal(x, base_x) else f"max |Δ| {float((x - base_x).abs().max()):.1e}"
        print(f"{name:34s} {1e3 * best / n:10.3f} {base_t / best:8.2f}x  {same}")
    if compile_s is not None:
        print(f"(torch.compile took {compile_s:.0f} s before its first samples)")


if __name__ == "__main__":
    main()

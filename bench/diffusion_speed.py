"""Speed of the DDPM U-Net: training img/s, sampling img·steps/s, and sampler overhead over bare network calls.

    OMP_NUM_THREADS=1 python bench/diffusion_speed.py [--base-channels 32] [--patch-size 2] [--channel-mults 1 2]
        [--batch-size 64] [--sample-batch 64] [--device auto|cpu|cuda] [--threads 1] [--repeats 3]
        [--ddim-steps 50] [--ancestral-steps 50] [--compile] [--bf16]

Training: forward + backward + Adam step through `DDPM.loss` on random images (channels_last; on CUDA
optionally bf16 autocast), timed after warm-up, synchronising the device before reading the clock.
Sampling: network evaluations per second at the sampling batch size (img·steps/s), then the wall time of
`ddim_sample` (--ddim-steps) and of ancestral `sample` on a schedule of T = --ancestral-steps (1000 is the real
thing; the CPU default is reduced) divided by the time of the same number of bare network calls: the sampler's
overhead (1.00 = none). Timings depend on the machine and its load; rerun before quoting.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform

import torch

from probgen.diffusion import DDPM, NoiseSchedule
from probgen.nets import UNet, UNetConfig
from probgen.runtime import best_time, resolve_device


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=2)
    parser.add_argument("--channel-mults", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--attention", type=int, nargs="*", default=[7], help="attention resolutions")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch")
    parser.add_argument("--sample-batch", type=int, default=None, help="sampling batch (default: --batch-size)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (best is kept)")
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--ancestral-steps", type=int, default=None,
                        help="T of the ancestral sampler's schedule (default: 1000 on CUDA, 50 on the CPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    bf16 = args.bf16 and device == "cuda"
    if args.bf16 and not bf16:
        print("# --bf16 ignored: CUDA only")
    ancestral_T = args.ancestral_steps or (1000 if device == "cuda" else 50)
    sample_batch = args.sample_batch or args.batch_size
    cfg = UNetConfig(base_channels=args.base_channels, patch_size=args.patch_size,
                     channel_mults=tuple(args.channel_mults), attention_resolutions=tuple(args.attention))
    torch.manual_seed(0)
    net = UNet(cfg).to(device, memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in net.parameters())
    runner = torch.compile(net) if args.compile else net
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    model = DDPM(runner, NoiseSchedule.linear(1000))

    # ----- training --------------------------------------------------------------------------------------------
    x = torch.randn(args.batch_size, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def train_step():
        with autocast():
            loss = model.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    net.train()
    for _ in range(2 if not args.compile else 4):
        train_step()
    train_s = best_time(train_step, device, args.repeats)

    # ----- sampling --------------------------------------------------------------------------------------------
    net.eval()
    xs = torch.randn(sample_batch, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
    ts = torch.full((sample_batch,), 500.0, device=device)

    def net_call():
        with torch.no_grad(), autocast():
            runner(xs, ts)

    for _ in range(2 if not args.compile else 4):
        net_call()
    calls = max(5, args.repeats)
    call_s = best_time(lambda: [net_call() for _ in range(calls)], device, args.repeats) / calls

    def ddim():
        with autocast():
            model.ddim_sample(tuple(xs.shape), steps=args.ddim_steps)

    ddim_s = best_time(ddim, device, max(1, args.repeats // 2))
    ancestral_model = DDPM(runner, NoiseSchedule.linear(ancestral_T, 0.1 / ancestral_T, min(20 / ancestral_T, 0.5)))

    def ancestral():
        with autocast():
            ancestral_model.sample(tuple(xs.shape))

    ancestral_s = best_time(ancestral, device, max(1, args.repeats // 2))

    gpu = f", {torch.cuda.get_device_name()}" if device == "cuda" else ""
    print(f"# device {device}{gpu} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, bf16 {bf16}, compile {args.compile}")
    print(f"# U-Net base_channels={cfg.base_channels} channel_mults={cfg.channel_mults} patch_size={cfg.patch_size} "
          f"attention={cfg.attention_resolutions} ({n_params / 1e6:.2f} M parameters); training batch "
          f"{args.batch_size}, sampling batch {sample_batch}, best of {args.repeats}")
    rows = [
        ("training", f"{args.batch_size / train_s:,.0f} img/s", f"{train_s * 1e3:.1f} ms/step", ""),
        ("network eval (no grad)", f"{sample_batch / call_s:,.0f} img·steps/s", f"{call_s * 1e3:.2f} ms/call", ""),
        (f"DDIM, {args.ddim_steps} steps", f"{sample_batch * args.ddim_steps / ddim_s:,.0f} img·steps/s",
         f"{ddim_s:.2f} s", f"{ddim_s / (args.ddim_steps * call_s):.2f}"),
        (f"ancestral, T={ancestral_T}", f"{sample_batch * ancestral_T / ancestral_s:,.0f} img·steps/s",
         f"{ancestral_s:.2f} s", f"{ancestral_s / (ancestral_T * call_s):.2f}"),
    ]
    header = ("what", "throughput", "time", "wall / bare net")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


if __name__ == "__main__":
    main()

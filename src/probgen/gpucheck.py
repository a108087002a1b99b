"""One prepared GPU check: every chapter at smoke on the device, the U-Net's speed, and the full DDPM's cost.

    python -m probgen.gpucheck run --out DIR [--device auto|cpu|cuda] [--budget-s 480]
    python -m probgen.gpucheck needs                 # which packages the notebooks need and this Python lacks
    python -m probgen.gpucheck wheels --dest .whl    # download them as CPython 3.12 manylinux wheels (here)

A GPU is lent to a session by chance, for minutes, so the check is one command that does everything and
writes everything to DIR, in this order (each step timed; a failed step is recorded and the next one runs):

1. `env`: Python, torch, CUDA, the device, and the packages the notebooks need that are missing.
2. `notebooks`: every chapter notebook at the smoke profile through papermill, on the device (the configs'
   device "auto" picks CUDA when there is one), into DIR/executed/ with their own results, figures and model
   cache under DIR: the book's files are never touched. Skipped, naming the missing wheels, when the notebook
   stack is not installed.
3. `bench`: the U-Net of the quick and of the full DDPM configuration, training img/s (forward, backward,
   Adam, EMA) and no-grad img/s, in fp32, under bf16 autocast, and compiled with bf16 autocast.
4. `ddpm_full`: the full DDPM configuration (its U-Net, batch and settings: bf16, compiled on request)
   trained for a fixed number of steps on MNIST through the real trainer: s/step, hence the epoch time and
   the full profile's training cost.

DIR/gpucheck.json holds every number; DIR/gpucheck.md the same as tables. Steps that would overrun the
budget are shortened (fewer bench steps) or skipped, and the report says so.

The GPU machine has PyTorch with CUDA but not papermill, nbclient, ipykernel, pyro, arviz or pymunk, and no
network: `wheels` downloads, here, the wheels of exactly the packages in the notebooks' dependency closure
that the GPU image lacks (the versions of this environment's lock), and `needs` there says whether any is
still missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from . import paths, runtime

# The packages whose imports the notebooks and `probgen.run` need beyond torch, numpy, pandas, scipy and matplotlib.
NOTEBOOK_ROOTS = ("papermill", "nbformat", "nbclient", "jupyter-client", "ipykernel", "traitlets", "pyro-ppl",
                  "arviz", "pymunk")

# What the GPU machine's image holds (the device tool's KINDS.md, read 2026-11-17): these are never carried.
GPU_IMAGE = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp
""".split())

# The environment markers of the GPU machine's Python (3.12 on x86-64 Linux), for the dependency closure.
GPU_PYTHON = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
              "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                   "manylinux1_x86_64", "manylinux_2_24_x86_64", "manylinux_2_5_x86_64")
CARRY_LIMIT_MB = 64.0  # what one call of the device tool carries, working tree included


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def closure(roots=NOTEBOOK_ROOTS, have=GPU_IMAGE, markers=None) -> dict[str, str]:
    """{package: version} of `roots` and everything they require (as installed in this environment, with the
    requirement markers evaluated for `markers`: the GPU machine's Python by default), minus what `have` holds."""
    from importlib import metadata

    from packaging.requirements import Requirement

    markers = GPU_PYTHON if markers is None else markers
    have = {_canonical(n) for n in have}
    found: dict[str, str] = {}
    stack = [_canonical(r) for r in roots]
    while stack:
        name = stack.pop()
        if name in found or name in have:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as error:
            raise SystemExit(f"error: {name} is needed by the notebooks but not installed in this environment "
                             f"({sys.executable}); run `make install` first") from error
        found[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(markers):
                stack.append(_canonical(req.name))
    return dict(sorted(found.items()))


def missing(packages) -> list[str]:
    """The names in `packages` that this Python cannot find (not installed, nor on PYTHONPATH)."""
    from importlib import metadata

    out = []
    for name in packages:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def download_wheels(dest: Path, packages: dict[str, str], *, pip=(sys.executable, "-m", "pip")) -> list[Path]:
    """Download `packages` ({name: version}) as CPython 3.12 manylinux x86-64 wheels into `dest`, one each and
    none of their dependencies (the closure already lists those). Refuses more than the device tool carries."""
    dest.mkdir(parents=True, exist_ok=True)
    platform_args = [a for p in WHEEL_PLATFORMS for a in ("--platform", p)]
    specs = [f"{name}=={version}" for name, version in packages.items()]
    cmd = [*pip, "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", *platform_args, "-d", str(dest), *specs]
    done = subprocess.run(cmd)
    if done.returncode:
        raise SystemExit(f"error: pip could not download every wheel (exit {done.returncode}); the command was\n"
                         f"  {' '.join(cmd)}")
    wheels = sorted(dest.glob("*.whl"))
    names = [_canonical(w.name.split("-")[0]) for w in wheels]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SystemExit(f"error: {dest} holds two versions of {', '.join(twice)}; empty it and run again")
    size_mb = sum(w.stat().st_size for w in wheels) / 2**20
    if size_mb > CARRY_LIMIT_MB:
        raise SystemExit(f"error: the wheels take {size_mb:.1f} MiB, over the {CARRY_LIMIT_MB:.0f} MiB one call carries")
    (dest / "WHEELS.txt").write_text("".join(f"{s}\n" for s in specs))
    return wheels


# --- the timed steps ----------------------------------------------------------------------------------------

def bench_unet(profile: str, mode: str, device: str, *, steps: int, repeats: int = 3) -> dict:
    """Training and no-grad img/s of the DDPM chapter's U-Net at `profile`, in `mode` ("fp32" | "bf16" |
    "bf16+compile"), on random images at the profile's batch size."""
    import torch

    from .diffusion import DDPM, EMA, NoiseSchedule
    from .diffusion.study import DDPMStudyConfig
    from .diffusion.training import autocast
    from .nets import UNet

    cfg = DDPMStudyConfig.for_profile(profile, device=device)
    torch.manual_seed(0)
    network = UNet(cfg.unet()).to(device, memory_format=torch.channels_last)
    model = DDPM(network, NoiseSchedule.linear(cfg.T))
    if mode.endswith("compile"):
        model.network = torch.compile(network)
    mixed = autocast("bf16" if mode.startswith("bf16") else "fp32", device)
    ema = EMA(network, 0.999)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    batch = cfg.batch_size
    x = torch.rand(batch, 1, 28, 28, device=device).mul(2).sub(1).contiguous(memory_format=torch.channels_last)

    def train_steps():
        for _ in range(steps):
            with mixed:
                loss = model.loss(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            ema.update(network)

    t = torch.randint(0, cfg.T, (batch,), device=device)

    def forward_steps():
        with torch.no_grad(), mixed:
            for _ in range(steps):
                model.network(x, t)

    start = time.perf_counter()
    train_steps()  # warm-up (and compilation)
    forward_steps()
    warmup = time.perf_counter() - start
    train_s = runtime.best_time(train_steps, device, repeats)
    forward_s = runtime.best_time(forward_steps, device, repeats)
    return {"profile": profile, "mode": mode, "params_M": round(sum(p.numel() for p in network.parameters()) / 1e6, 3),
            "batch": batch, "train_img_per_s": batch * steps / train_s, "nograd_img_per_s": batch * steps / forward_s,
            "warmup_s": warmup, "steps": steps}


def ddpm_full_cost(device: str, *, steps: int, compile: bool, out: Path, profile: str = "full") -> dict:
    """Train the full DDPM configuration for `steps` steps through `train_diffusion` (on MNIST, model cache
    under `out`), clocking the steps after the first fifth (compilation and warm-up), and turn that speed into
    the epoch time and the full profile's training time."""
    before = os.environ.get("PROBGEN_CACHE")
    os.environ["PROBGEN_CACHE"] = str(out / "cache")  # the check's models never enter the book's cache
    try:
        return _ddpm_cost(device, steps=steps, compile=compile, profile=profile)
    finally:
        if before is None:
            os.environ.pop("PROBGEN_CACHE", None)
        else:
            os.environ["PROBGEN_CACHE"] = before


def _ddpm_cost(device: str, *, steps: int, compile: bool, profile: str) -> dict:
    import math

    import torch

    from . import checkpoints
    from .diffusion import DDPM, NoiseSchedule, train_diffusion
    from .diffusion.study import DDPMStudyConfig, load_training_data
    from .nets import UNet

    full = DDPMStudyConfig.for_profile(profile, device=device, compile=compile)
    x, _ = load_training_data(full)
    schedule = NoiseSchedule.from_config(full.schedule_config())
    first = max(1, steps // 5)
    clock: dict[int, float] = {}

    def stamp(model) -> dict:
        runtime.synchronize(device)
        clock[len(clock)] = time.perf_counter()
        return {}

    def build() -> DDPM:
        torch.manual_seed(0)
        return DDPM(UNet(full.unet()), schedule, clip_x0=1.0)

    train_cfg = full.train_config(steps).replace(preview_epochs=(), snapshot_steps=(first, steps))
    start = time.perf_counter()
    train_diffusion("gpucheck-ddpm-full", {"unet": checkpoints.config_dict(full.unet())}, build, train_cfg, x,
                    snapshot=stamp, log=lambda m: None, progress=False)
    wall = time.perf_counter() - start
    step_s = (clock[1] - clock[0]) / (steps - first)
    steps_per_epoch = math.ceil(x.shape[0] / full.batch_size)
    epoch_s = steps_per_epoch * step_s
    return {"steps": steps, "timed_steps": steps - first, "wall_s": wall, "batch": full.batch_size,
            "step_s": step_s, "img_per_s": full.batch_size / step_s, "steps_per_epoch": steps_per_epoch,
            "epoch_s": epoch_s, "epochs": full.epochs, "full_training_h": full.epochs * epoch_s / 3600,
            "compile": compile, "precision": "bf16 autocast" if runtime.is_cuda(device) else "fp32"}


def run_notebooks(out: Path, device: str, *, timeout_s: float, names: list[str] | None = None) -> list[dict]:
    """Every chapter notebook at smoke, into out/executed/, its results, figures, runs and cache under `out`.

    The chapters' configs pick their device themselves ("auto": CUDA where there is one); on the CPU the
    kernels are shown no GPU, so `--device cpu` means the CPU on a GPU machine too."""
    from . import run as runner

    env = {"PROBGEN_RESULTS": str(out / "results"), "PROBGEN_FIGURES": str(out / "figures"),
           "PROBGEN_RUNS": str(out / "runs"), "PROBGEN_CACHE": str(out / "cache")}
    if not runtime.is_cuda(device):
        env["CUDA_VISIBLE_DEVICES"] = ""
    rows, deadline = [], time.perf_counter() + timeout_s
    for nb, params in runner.plan(runner.discover(names), "smoke", {}):
        if time.perf_counter() > deadline:
            rows.append({"notebook": nb.stem, "status": "skipped (budget)", "seconds": None})
            continue
        try:
            seconds = runner.execute(nb, params, run_id=f"gpucheck-{nb.stem}", out_dir=out / "executed", env=env)
            rows.append({"notebook": nb.stem, "status": "done", "seconds": seconds})
        except runner.RunError as error:
            rows.append({"notebook": nb.stem, "status": "failed", "seconds": None, "error": error.error,
                         "cell": error.cell})
    return rows


def environment(device: str) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "device": runtime.device_description(device), "cores": os.cpu_count(),
            "missing_for_notebooks": missing(NOTEBOOK_ROOTS)}
    info.update(runtime.cuda_properties(device))
    return info


def _markdown(report: dict) -> str:
    lines = [f"# GPU check, {report['env']['device']}", "",
             f"Python {report['env']['python']}, torch {report['env']['torch']}, CUDA {report['env']['cuda']}; "
             f"{report['wall_s']:.0f} s in all (budget {report['budget_s']:.0f} s).", ""]
    steps = report["steps"]
    if "notebooks" in steps:
        lines += ["## Chapters at smoke", "", "| notebook | status | seconds |", "|---|---|---|"]
        for r in steps["notebooks"].get("rows", []):
            sec = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
            status = r["status"] + (f": cell {r.get('cell')}, {r.get('error', '')}" if r["status"] == "failed" else "")
            lines.append(f"| {r['notebook']} | {status} | {sec} |")
        lines.append("")
    if "bench" in steps:
        lines += ["## U-Net speed", "", "| profile | params (M) | batch | mode | train img/s | no-grad img/s |",
                  "|---|---|---|---|---|---|"]
        for r in steps["bench"].get("rows", []):
            lines.append(f"| {r['profile']} | {r['params_M']} | {r['batch']} | {r['mode']} | "
                         f"{r['train_img_per_s']:.0f} | {r['nograd_img_per_s']:.0f} |")
        if report.get("bench_skipped"):
            lines += ["", "Not timed, to leave the full DDPM its share of the budget: "
                      + ", ".join(report["bench_skipped"]) + "."]
        lines.append("")
    if steps.get("ddpm_full", {}).get("result"):
        r = steps["ddpm_full"]["result"]
        lines += ["## Full DDPM training cost", "",
                  f"{r['steps']} steps of batch {r['batch']} ({r['precision']}, compile {r['compile']}) in "
                  f"{r['wall_s']:.1f} s; the last {r['timed_steps']} at {r['step_s'] * 1000:.1f} ms/step "
                  f"({r['img_per_s']:.0f} img/s): an epoch of {r['steps_per_epoch']} steps takes about "
                  f"{r['epoch_s']:.0f} s, the full profile's {r['epochs']} epochs about {r['full_training_h']:.2f} h.",
                  ""]
    for name, step in steps.items():
        if step.get("error"):
            lines.append(f"- step {name} failed: {step['error']}")
        if step.get("note"):
            lines.append(f"- step {name}: {step['note']}")
    return "\n".join(lines) + "\n"


def check(out: Path, device: str = "auto", budget_s: float = 480.0, *, notebooks: bool = True,
          bench_steps: int | None = None, ddpm_steps: int | None = None,
          bench_profiles=("quick", "full"), modes=("fp32", "bf16", "bf16+compile"), ddpm_profile: str = "full") -> dict:
    """Run the steps of the module docstring into `out`; return the report (also written to out/).

    (`bench_profiles`, `modes` and `ddpm_profile` let a test run the same path on the smoke configuration.)"""
    out.mkdir(parents=True, exist_ok=True)
    device = runtime.resolve_device(device)
    cuda = runtime.is_cuda(device)
    bench_steps = bench_steps or (20 if cuda else 2)
    ddpm_steps = ddpm_steps or (300 if cuda else 5)
    start = time.perf_counter()
    report: dict = {"budget_s": budget_s, "device_asked": device, "steps": {}}

    def left() -> float:
        return budget_s - (time.perf_counter() - start)

    def step(name: str, fn, *, needs_s: float = 0.0):
        if left() < needs_s:
            report["steps"][name] = {"note": f"skipped: {left():.0f} s of the budget left, {needs_s:.0f} s needed"}
            return
        t0 = time.perf_counter()
        try:
            report["steps"][name] = fn() or {}
        except Exception as error:  # noqa: BLE001  (record it; the next step still runs)
            report["steps"][name] = {"error": f"{type(error).__name__}: {error}"}
        report["steps"][name]["seconds"] = time.perf_counter() - t0
        print(f"gpucheck: {name} done in {report['steps'][name]['seconds']:.1f} s"
              + (f" ({report['steps'][name]['error']})" if "error" in report["steps"][name] else ""), flush=True)

    report["env"] = environment(device)
    print(f"gpucheck: {report['env']['device']}, torch {report['env']['torch']}, CUDA {report['env']['cuda']}",
          flush=True)
    lacking = report["env"]["missing_for_notebooks"]
    if not notebooks:
        report["steps"]["notebooks"] = {"note": "not asked for (--no-notebooks)"}
    elif lacking:
        report["steps"]["notebooks"] = {"note": "skipped: this Python lacks " + ", ".join(lacking)
                                        + "; carry the wheels of `python -m probgen.gpucheck wheels`"}
    else:
        step("notebooks", lambda: {"rows": run_notebooks(out, device, timeout_s=0.5 * budget_s)})
    rows = []

    # the full DDPM's cost is what the full profile's cost table needs most: the benchmark leaves it time
    ddpm_reserve_s = min(120.0, 0.25 * budget_s)

    def bench():
        for profile in bench_profiles:
            for mode in modes:
                if left() < 30 + ddpm_reserve_s:
                    report.setdefault("bench_skipped", []).append(f"{profile}/{mode}")
                    continue
                rows.append(bench_unet(profile, mode, device, steps=bench_steps))
                print(f"gpucheck: bench {profile} {mode}: {rows[-1]['train_img_per_s']:.0f} train img/s", flush=True)
        return {"rows": rows}

    step("bench", bench, needs_s=30)
    step("ddpm_full", lambda: {"result": ddpm_full_cost(device, steps=ddpm_steps, compile=cuda, out=out,
                                                        profile=ddpm_profile)}, needs_s=20)
    report["wall_s"] = time.perf_counter() - start
    (out / "gpucheck.json").write_text(runtime.dumps(report) + "\n")
    (out / "gpucheck.md").write_text(_markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.gpucheck", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the check into --out")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    r.add_argument("--budget-s", type=float, default=480.0, help="stop starting new work after this (default 480)")
    r.add_argument("--no-notebooks", action="store_true", help="skip the chapters at smoke")
    r.add_argument("--bench-steps", type=int, default=None, help="steps per timing (default 20 on CUDA, 2 on CPU)")
    r.add_argument("--ddpm-steps", type=int, default=None, help="full-DDPM steps (default 300 on CUDA, 5 on CPU)")
    sub.add_parser("needs", help="the notebooks' packages this Python lacks")
    w = sub.add_parser("wheels", help="download the wheels the GPU machine lacks (run here, with network)")
    w.add_argument("--dest", type=Path, default=paths.repo_root() / ".whl")
    args = parser.parse_args(argv)
    if args.command == "needs":
        lacking = missing(NOTEBOOK_ROOTS)
        print("nothing missing" if not lacking else "missing: " + " ".join(lacking))
        return 1 if lacking else 0
    if args.command == "wheels":
        packages = closure()
        wheels = download_wheels(args.dest, packages)
        size = sum(w.stat().st_size for w in wheels) / 2**20
        print(f"{len(wheels)} wheels, {size:.1f} MiB, in {args.dest} (the list: {args.dest / 'WHEELS.txt'})")
        return 0
    report = check(args.out, args.device, args.budget_s, notebooks=not args.no_notebooks,
                   bench_steps=args.bench_steps, ddpm_steps=args.ddpm_steps)
    print(_markdown(report))
    failed = [n for n, s in report["steps"].items() if s.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

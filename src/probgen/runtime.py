"""Profiles, devices, seeds and run manifests shared by every chapter.

A chapter's configuration is a frozen dataclass next to the code it configures.
It subclasses `ProfileConfig`, lists the values of each profile in `PROFILES`,
and is built from notebook parameters with `Config.for_profile(profile, seed=...)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import platform
import random
import re
import subprocess
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping

from . import paths

PROFILES = ("smoke", "quick", "full")
PROFILE_HELP = {
    "smoke": "seconds to a few minutes on 2 CPU cores; checks that everything runs (CI)",
    "quick": "meaningful results on a laptop CPU",
    "full": "the real experiment (GPU for the deep models); the book's headline numbers",
}


class ConfigError(ValueError):
    """A configuration value or key is not allowed; the message says what is."""


def check_profile(profile: str) -> str:
    """Return `profile` if it is one of `PROFILES`, else raise `ConfigError` naming them."""
    if profile not in PROFILES:
        raise ConfigError(
            f"unknown profile {profile!r}; allowed values are {', '.join(map(repr, PROFILES))} "
            f"(smoke: {PROFILE_HELP['smoke']}; quick: {PROFILE_HELP['quick']}; full: {PROFILE_HELP['full']})"
        )
    return profile


def check_choice(name: str, value: Any, allowed: tuple) -> Any:
    """Raise `ConfigError` unless `value` is in `allowed`; the message names the key and choices."""
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def reject_unknown(cls, keys, hidden=()) -> None:
    """Raise `ConfigError` if `keys` holds a name that is not a field of the dataclass `cls`.

    The message lists the unknown names and the allowed ones (without `hidden`).
    """
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(keys) - set(names))
    if unknown:
        allowed = sorted(n for n in names if n not in hidden)
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)} for {cls.__name__}; allowed: {', '.join(allowed)}")


def config_text(config, width: int = 80) -> str:
    """A config dataclass as `Name(field=value, ...)`, its fields filled into lines of at most `width` columns.

    (A field whose own text is longer than `width` gets a line of its own.)
    """
    items = [f"{f.name}={getattr(config, f.name)!r}" for f in fields(config)]
    lines, line = [], type(config).__name__ + "("
    indent = " " * 4
    for k, item in enumerate(items):
        item += ")" if k == len(items) - 1 else ","
        if len(line) + 1 + len(item) > width and line.strip() and not line.endswith("("):
            lines.append(line)
            line = indent + item
        else:
            line += ("" if line.endswith("(") else " ") + item
    lines.append(line if items else line + ")")
    return "\n".join(lines)


class FromDict:
    """Mixin for frozen config dataclasses: `from_dict` (refusing unknown keys) and `replace`."""

    def __str__(self) -> str:  # print(cfg) in a notebook: readable, never one cut-off line
        return config_text(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """Build from a mapping, raising `ConfigError` that names unknown keys and the allowed ones."""
        reject_unknown(cls, values)
        return cls(**values)

    def replace(self, **changes: Any):
        """A copy with some fields changed (unknown names refused)."""
        return self.from_dict({**dataclasses.asdict(self), **changes})


@dataclass(frozen=True)
class ProfileConfig:
    """Base class of chapter configurations built from a profile.

    Subclasses are frozen dataclasses with a class attribute
    `PROFILES = {"smoke": {...}, "quick": {...}, "full": {...}}` giving the
    field values of each profile; fields not listed keep their defaults.
    """

    PROFILES: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    profile: str = "smoke"
    seed: int = 0

    def __str__(self) -> str:  # print(cfg) in a notebook: readable, never one cut-off line
        return config_text(self)

    def __post_init__(self) -> None:
        check_profile(self.profile)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed={self.seed!r} must be a non-negative integer")
        self.validate()

    def validate(self) -> None:
        """Check field values; subclasses raise `ConfigError` naming the bad key."""

    @classmethod
    def for_profile(cls, profile: str, seed: int = 0, **overrides: Any):
        """Build the configuration of `profile`, with keyword overrides of single fields."""
        check_profile(profile)
        reject_unknown(cls, overrides, hidden=("profile", "seed"))
        values = dict(cls.PROFILES.get(profile, {}))
        values.update(overrides)
        return cls(profile=profile, seed=seed, **values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_device(device: str = "auto") -> str:
    """Map "auto" | "cpu" | "cuda" to an available torch device name."""
    check_choice("device", device, ("auto", "cpu", "cuda"))
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # the TrueSkill and GP chapters need no torch
        has_cuda = False
    if device == "cuda" and not has_cuda:
        raise ConfigError("device='cuda' was asked for but no CUDA device is available; use 'auto' or 'cpu'")
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    return device


def is_cuda(device) -> bool:
    """Whether `device` ("cpu", "cuda", "cuda:1" or a `torch.device`) is a CUDA device."""
    return str(device).split(":")[0] == "cuda"


def cuda_device_count() -> int:
    """How many CUDA devices torch sees (0 without CUDA, or without torch)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


def synchronize(device) -> None:
    """Wait for the kernels queued on `device` (a timer around CUDA work needs it; on the CPU nothing to wait for)."""
    if is_cuda(device):
        import torch

        torch.cuda.synchronize(device)


def best_time(fn, device, repeats: int) -> float:
    """Best-of-`repeats` wall seconds of fn(), `device` synchronised before each reading of the clock (what every
    benchmark and speed measurement here reports)."""
    import time

    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def cuda_properties(device) -> dict:
    """Name, compute capability, memory and multiprocessors of a CUDA `device` (empty for the CPU)."""
    if not is_cuda(device):
        return {}
    import torch

    p = torch.cuda.get_device_properties(device)
    return {"name": p.name, "capability": f"{p.major}.{p.minor}", "memory_GiB": round(p.total_memory / 2**30, 1),
            "multiprocessors": p.multi_processor_count}


@dataclass(frozen=True)
class Distributed:
    """This process's place in a `torchrun` job: rank, world size, and the device it trains on."""

    rank: int
    world: int
    device: str


def distributed(device: str) -> Distributed | None:
    """Join the `torchrun` job this process belongs to, or return None when there is none (WORLD_SIZE unset or 1).

    `device` is the resolved device ("cpu" or "cuda"): on CUDA each process takes the GPU of its LOCAL_RANK and
    NCCL; on the CPU, gloo. The process group is created once and reused.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if is_cuda(device):
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                              f"run torchrun with --nproc_per_node at most that")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if is_cuda(device) else "gloo")
    return Distributed(rank=rank, world=world, device=device)


def rng_devices(device) -> list[int]:
    """The CUDA device indices whose generators `torch.random.fork_rng` must save and restore for `device`."""
    if not is_cuda(device):
        return []
    import torch

    return [torch.device(device).index or 0]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (explicit generators are still preferred)."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def git_commit() -> str:
    """The current commit (with `-dirty` if the tree has changes), or "unknown"."""
    root = paths.repo_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions(names=("numpy", "scipy", "pandas", "torch", "matplotlib", "pyro-ppl", "arviz")) -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The processor's name ("AMD EPYC 7B13", "Intel(R) Xeon(R) Processor") from Linux's `cpuinfo`; elsewhere
    the architecture (`platform.processor()` or `platform.machine()`, e.g. "x86_64").

    Models trained on two CPUs follow different floating-point paths, so a results file names the CPU it ran on.
    """
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: str = "cpu") -> str:
    if is_cuda(device):
        import torch

        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_model()}, {os.cpu_count()} cores"


def seed_list(seeds) -> list[int]:
    """One seed or several, as a list: 3 -> [3], (0, 1) -> [0, 1]."""
    return [seeds] if isinstance(seeds, int) else list(seeds)


def manifest(*, profile: str, seeds, device: str = "cpu", wall_time_s: float | None = None, **extra) -> dict:
    """Everything needed to say where a number came from."""
    return {
        "profile": check_profile(profile),
        "seeds": seed_list(seeds),
        "device": device_description(device),
        "git_commit": git_commit(),
        "probgen_version": _package_version(),
        "versions": library_versions(),
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
        "run_id": os.environ.get(RUN_ID_ENV),  # the runner's run (None when run by hand or by nbmake)
        **extra,
    }


def _package_version() -> str:
    from . import __version__

    return __version__


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default)


def _json_default(obj: Any):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def param_like(module) -> dict:
    """Device and dtype of a module's first parameter, to cast data to (whatever the default dtype).

    A module without parameters (e.g. an exact score or velocity field in a test) gives the
    CPU and the default dtype.
    """
    import torch

    p = next(module.parameters(), None)
    if p is None:
        return {"device": torch.device("cpu"), "dtype": torch.get_default_dtype()}
    return {"device": p.device, "dtype": p.dtype}


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with `n` torch intra-op threads, then restore the previous number.

    Small-matrix work (NUTS on a 20×20 covariance) is several times slower with
    more than one thread, and far slower when other processes share the cores.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


STATUS_ENV = "PROBGEN_STATUS_FILE"  # set by `python -m probgen.run`: where progress bars write their line
RUN_ID_ENV = "PROBGEN_RUN_ID"  # set by `python -m probgen.run`: the run a results file belongs to


class _StatusLine:
    """A file-like target for a text progress bar: keeps the last line of every open bar in one status file.

    The notebook runner reads that file and shows it in the terminal, so a bar
    never enters the executed notebook (no widgets, no frozen `0%` bars in the book).
    """

    _lines: dict[int, str] = {}  # every open bar's last line, in the order the bars were opened

    def __init__(self, path: str):
        self.path = path

    def write(self, text: str) -> int:
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # cursor moves of nested bars
        pieces = [p.strip() for p in text.replace("\r", "\n").split("\n")]
        pieces = [p for p in pieces if p]
        if pieces:
            self._lines[id(self)] = pieces[-1]
        elif text.strip("\r\n ") == "" and "\r" in text:  # the bar cleared itself (closed with leave=False)
            self._lines.pop(id(self), None)
        try:  # not atomic.atomic_path: this throwaway line is rewritten every second and needs no fsync
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                fh.write(" | ".join(self._lines.values()))
            os.replace(tmp, self.path)
        except OSError:  # the runner went away; progress is not worth failing a run for
            pass
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._lines.pop(id(self), None)


def progress(iterable=None, *, enabled: bool = True, desc: str = "", total: int | None = None, initial: int = 0):
    """A progress bar over `iterable`, or (with `iterable=None`) a manual bar to `.update()` and `.close()`.

    Where the bar goes:
    - under the notebook runner (`python -m probgen.run` sets `$PROBGEN_STATUS_FILE`): a text bar in that
      file, which the runner shows in the terminal; nothing enters the executed notebook;
    - in an interactive notebook a widget, in a terminal a text bar on stderr (tqdm.auto).
    The bar disappears when done; with `enabled=False` it shows nothing (but still iterates and has
    `update`, `set_postfix` and `close`).
    """
    status = os.environ.get(STATUS_ENV)
    if status:
        from tqdm.std import tqdm

        return tqdm(iterable, desc=desc, total=total, initial=initial, leave=False, disable=not enabled,
                    file=_StatusLine(status), mininterval=1.0, position=0)
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, initial=initial, leave=False, disable=not enabled)

"""Train-or-load: trained models and expensive results cached by a hash of their full config.

A cache file's name is `<kind>-<hash>.<ext>` where the hash covers the whole
config (and the kind), so a changed config never reuses stale results. The
file also stores the config itself, the training step, metrics and the package
version, and the SHA-256 of all of it (every tensor's bytes included), checked
on every load: damaged bytes are found even where the file still unpickles.
Loading also compares the stored config with the requested one and refuses a
mismatch. Files are written atomically (`atomic.atomic_path`), so an
interrupted run or a concurrent writer leaves either the old file or the new
one, never half of one. A corrupt, damaged, unverifiable or mismatched file is
moved aside (`*.bad`, `*.bad.1`, ...: earlier evidence is never overwritten),
reported, and the result recomputed: nothing is silently reused and nothing
is deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from . import __version__, paths
from .atomic import atomic_path, atomic_write_text

FORMAT_VERSION = 2  # 2: the payload holds its own SHA-256; files of format 1 cannot be verified


class CheckpointError(RuntimeError):
    """A cache file is corrupt, of another format, or was made with another config."""


def config_dict(config: Any) -> dict:
    """A plain, JSON-serialisable dict of a config (dataclass or mapping)."""
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise TypeError(f"a config must be a dataclass or a dict, not {type(config).__name__}")
    # Round-trip through JSON: tuples become lists, exactly as they are stored.
    return json.loads(json.dumps(config, sort_keys=True))


def config_hash(kind: str, config: Any) -> str:
    """16 hex digits of the SHA-256 of the kind and the canonical JSON of the full config."""
    canonical = json.dumps({"kind": kind, "config": config_dict(config)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def data_fingerprint(x) -> str:
    """16 hex digits of the SHA-256 of an array's shape, dtype and values (torch tensor or numpy).

    Goes into a cache key next to the config, so the same config trained on
    other data never reuses stale weights.
    """
    import numpy as np

    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{arr.shape}{arr.dtype}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()[:16]


def cache_path(kind: str, config: Any, ext: str = "pt") -> Path:
    return paths.cache_dir(kind) / f"{kind}-{config_hash(kind, config)}.{ext}"


def payload_sha256(payload: dict) -> str:
    """SHA-256 of everything in a cache payload except its `sha256` entry: tensors by dtype, shape and bytes.

    Walks dicts (keys in sorted order), lists and tuples; anything else (numbers,
    strings, None) enters by its repr, which round-trips through `torch.save`
    and JSON unchanged.
    """
    h = hashlib.sha256()
    _update(h, {k: v for k, v in payload.items() if k != "sha256"})
    return h.hexdigest()


def _update(h, obj: Any) -> None:
    if hasattr(obj, "detach"):  # a tensor
        import torch

        t = obj.detach().cpu().contiguous()
        h.update(f"tensor {t.dtype} {tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(f"dict {len(obj)}:".encode())
        for key in sorted(obj, key=repr):
            h.update(f"{key!r}=".encode())
            _update(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__} {len(obj)}:".encode())
        for item in obj:
            _update(h, item)
    else:
        h.update(f"{obj!r};".encode())


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _header(kind: str, config: Any) -> dict:
    """What every cache file records about itself, checked again on load."""
    return {
        "format": FORMAT_VERSION,
        "kind": kind,
        "config": config_dict(config),
        "config_hash": config_hash(kind, config),
        "probgen_version": __version__,
    }


def save_checkpoint(path: Path, *, kind: str, config: Any, state: dict, step: int, metrics: dict | None = None,
                    complete: bool = True) -> Path:
    """Write a checkpoint atomically. `state` holds tensors (e.g. `model.state_dict()`)."""
    payload = {
        **_header(kind, config),
        "step": int(step),
        "complete": bool(complete),
        "metrics": metrics or {},
        "state": state,
    }
    payload["sha256"] = payload_sha256(payload)
    _atomic_torch_save(payload, Path(path))
    return Path(path)


def load_checkpoint(path: Path, *, kind: str, config: Any) -> dict:
    """Load a checkpoint strictly (`weights_only=True`); raise `CheckpointError` if it is not the one asked for."""
    import torch

    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle of foreign objects, ...
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    _check_payload(payload, path, kind, config)
    return payload


def _check_payload(payload: Any, path: Path, kind: str, config: Any) -> None:
    if isinstance(payload, dict) and payload.get("format") == 1:
        raise CheckpointError(f"{path} is of format 1, which stores no checksum, so it cannot be verified")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a probgen cache file of format {FORMAT_VERSION}")
    if payload.get("sha256") != payload_sha256(payload):
        raise CheckpointError(f"{path} is damaged: its content does not match the SHA-256 stored in it")
    if payload.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {payload.get('kind')!r}, not a {kind!r}")
    wanted = config_dict(config)
    if payload.get("config") != wanted:
        stored = payload.get("config") or {}
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise CheckpointError(f"{path} was made with another config (differs in: {', '.join(diff)})")


def _first_free_bad_name(path: Path) -> Path:
    """`<name>.bad`, else `<name>.bad.1`, `<name>.bad.2`, ...: the first that does not exist yet."""
    bad, n = path.with_name(path.name + ".bad"), 0
    while bad.exists():
        n += 1
        bad = path.with_name(f"{path.name}.bad.{n}")
    return bad


def _move_aside(path: Path, log: Callable[[str], None], reason: Exception) -> None:
    """Move `path` out of the way, keeping every earlier `.bad` file as evidence, and report why."""
    bad = _first_free_bad_name(path)
    try:
        os.replace(path, bad)
    except FileNotFoundError:  # another process moved it aside first
        log(f"warning: {reason}. Another process moved it aside; recomputing.")
        return
    except OSError as exc:  # a read-only folder: say what to do, not a bare PermissionError
        raise paths.unwritable(path.parent, "PROBGEN_CACHE", exc) from exc
    log(f"warning: {reason}. Moved it to {bad.name} and recomputing.")


@contextlib.contextmanager
def exclusive(path: Path, what: str, log: Callable[[str], None] = print) -> Iterator[None]:
    """Hold an exclusive lock on `path` (through a hidden `.<name>.lock` beside it) for the block.

    Two processes (two runs of a sweep, two notebooks) that need the same cache file then compute it once:
    the second waits, says so, and finds the first one's file. The lock is released when the block ends or
    its process dies. Without `fcntl` (Windows) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    lock = path.with_name(f".{path.name}.lock")
    try:
        fh = open(lock, "a+")
    except OSError as exc:
        raise paths.unwritable(path.parent, "PROBGEN_CACHE", exc) from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process that is computing {what} ({path.name})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def train_or_load(kind: str, config: Any, train: Callable[..., tuple[dict, int, dict]], *,
                  log: Callable[[str], None] = print) -> dict:
    """Return the cached checkpoint of (kind, config), training it first if needed.

    `train(resume=payload_or_None, save=save_fn)` returns `(state, step, metrics)`.
    It may call `save(state, step, metrics)` during training to write a partial
    checkpoint; a later call then passes that payload as `resume`, so an
    interrupted run continues where it stopped. Another process asking for the
    same (kind, config) meanwhile waits for this one's file (`exclusive`).
    """
    path = cache_path(kind, config)
    with exclusive(path, kind, log):
        return _train_or_load(path, kind, config, train, log)


def _train_or_load(path: Path, kind: str, config: Any, train, log) -> dict:
    resume = None
    if path.exists():
        try:
            payload = load_checkpoint(path, kind=kind, config=config)
        except CheckpointError as exc:
            _move_aside(path, log, exc)
        else:
            if payload["complete"]:
                log(f"loaded {kind} from cache ({path.name}, step {payload['step']})")
                return payload
            log(f"resuming {kind} from step {payload['step']} ({path.name})")
            resume = payload

    def save(state: dict, step: int, metrics: dict | None = None) -> None:
        save_checkpoint(path, kind=kind, config=config, state=state, step=step, metrics=metrics, complete=False)

    state, step, metrics = train(resume=resume, save=save)
    save_checkpoint(path, kind=kind, config=config, state=state, step=step, metrics=metrics, complete=True)
    return load_checkpoint(path, kind=kind, config=config)


def cpu_state(model) -> dict:
    """A detached CPU copy of a module's state dict, as checkpoints store it."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def restore_model(model, payload: dict, device):
    """Load a checkpoint's weights into a freshly built `model` (strictly); return it on `device` in eval mode."""
    model.load_state_dict(payload["state"]["model"], strict=True)
    return model.to(device).eval()


def restore_training(resume: dict | None, model, optimizer, history_keys) -> tuple[dict, int]:
    """Load a partial checkpoint of `train_or_load` into `model` and `optimizer` (strictly).

    Returns the history so far (empty lists for `history_keys` on a fresh start)
    and the step (epoch) to continue from.
    """
    if resume is None:
        return {k: [] for k in history_keys}, 0
    model.load_state_dict(resume["state"]["model"], strict=True)
    optimizer.load_state_dict(resume["state"]["optimizer"])
    return {k: list(v) for k, v in resume["metrics"]["history"].items()}, int(resume["step"])


def cached_json(kind: str, config: Any, compute: Callable[[], Any], *, log: Callable[[str], None] = print) -> Any:
    """Return `compute()`'s JSON-serialisable result, cached under a hash of (kind, config).

    Like `train_or_load`, a second process asking for the same result waits for the first one's file.
    """
    path = cache_path(kind, config, ext="json")
    with exclusive(path, kind, log):
        return _cached_json(path, kind, config, compute, log)


def _cached_json(path: Path, kind: str, config: Any, compute, log) -> Any:
    if path.exists():
        try:
            with open(path) as fh:
                payload = json.load(fh)
            _check_payload(payload, path, kind, config)
            log(f"loaded {kind} from cache ({path.name})")
            return payload["result"]
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            _move_aside(path, log, CheckpointError(f"{path} is corrupt ({exc})"))
        except CheckpointError as exc:
            _move_aside(path, log, exc)
    result = compute()
    from .runtime import dumps

    payload = json.loads(dumps({**_header(kind, config), "result": result}))  # hashed as it will be read back
    payload["sha256"] = payload_sha256(payload)
    atomic_write_text(path, dumps(payload))
    return payload["result"]

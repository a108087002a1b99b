"""Train-or-load: trained models and expensive results cached by a hash of their full config.

A cache file's name is `<kind>-<hash>.<ext>` where the hash covers the whole
config (and the kind), so a changed config never reuses stale results. The
file also stores the config itself, the training step, metrics and the package
version; loading compares the stored config with the requested one and refuses
a mismatch. Files are written atomically (temporary file + rename), so an
interrupted run leaves either the old file or the new one, never half of one.
A corrupt or mismatched file is moved aside (`*.bad`), reported, and the
result recomputed: nothing is silently reused and nothing is deleted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from . import __version__, paths
from .reporting import atomic_write_text

FORMAT_VERSION = 1


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


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a probgen cache file of format {FORMAT_VERSION}")
    if payload.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {payload.get('kind')!r}, not a {kind!r}")
    wanted = config_dict(config)
    if payload.get("config") != wanted:
        stored = payload.get("config") or {}
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise CheckpointError(f"{path} was made with another config (differs in: {', '.join(diff)})")


def _move_aside(path: Path, log: Callable[[str], None], reason: Exception) -> None:
    bad = path.with_name(path.name + ".bad")
    os.replace(path, bad)
    log(f"warning: {reason}. Moved it to {bad.name} and recomputing.")


def train_or_load(kind: str, config: Any, train: Callable[..., tuple[dict, int, dict]], *,
                  log: Callable[[str], None] = print) -> dict:
    """Return the cached checkpoint of (kind, config), training it first if needed.

    `train(resume=payload_or_None, save=save_fn)` returns `(state, step, metrics)`.
    It may call `save(state, step, metrics)` during training to write a partial
    checkpoint; a later call then passes that payload as `resume`, so an
    interrupted run continues where it stopped.
    """
    path = cache_path(kind, config)
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
    """Return `compute()`'s JSON-serialisable result, cached under a hash of (kind, config)."""
    path = cache_path(kind, config, ext="json")
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
    payload = {**_header(kind, config), "result": result}
    from .runtime import dumps

    atomic_write_text(path, dumps(payload))
    return json.loads(dumps(result))

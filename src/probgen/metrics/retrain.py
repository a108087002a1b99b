"""Re-train the committed FID classifier: `python -m probgen.metrics.retrain [--out DIR] [--check]`.

Trains `MNISTClassifier` with `FID_CONFIG` (all 60 000 MNIST training images,
seed 0, on CPU with `--threads` torch threads), scores it on the 10 000 test
images and writes `fid_classifier.pt` (the float32 state dict) and
`fid_classifier.json` (its SHA-256, config, accuracies, time, torch version and
this command) to `--out` (default: the package's weights folder, i.e. it
replaces the committed files). Training goes through the classifier cache, so
an interrupted run resumes; `--check` instead trains from scratch in a
temporary cache and folder and compares the SHA-256 and test accuracy with the
committed ones. Bit-identical weights need the same torch version, thread
count and CPU kind as the committed run (recorded in the JSON).

MNIST is read from `$PROBGEN_DATA` (or `--data-dir`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import torch

from .. import checkpoints
from ..atomic import atomic_path, atomic_write_text
from ..runtime import torch_threads
from .classifier import (
    FID_CLASSIFIER_SHA256,
    FID_CONFIG,
    FID_WEIGHTS_PATH,
    MONITOR_SPLIT,
    RETRAIN_COMMAND,
    accuracy,
    file_sha256,
    load_or_train_classifier,
)

DEFAULT_THREADS = 1  # the committed weights were trained with 1 torch thread (the machine had 2 shared cores)


def retrain(out_dir: str | Path, *, data_dir: str | Path | None = None, threads: int = DEFAULT_THREADS,
            log: Callable[[str], None] = print) -> dict:
    """Train (or load from the classifier cache) the FID classifier and write its weights and sidecar to `out_dir`.

    Returns:
        the sidecar record written as `fid_classifier.json` (sha256, config, test accuracy, ...).
    """
    from ..data.mnist import load_mnist

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch_threads(threads):
        model, history = load_or_train_classifier(FID_CONFIG, data_dir=data_dir, log=log)
        test = load_mnist("test", "symmetric", data_dir=data_dir)
        test_accuracy = accuracy(model, test.images, test.labels)
    weights = out_dir / FID_WEIGHTS_PATH.name
    with atomic_path(weights) as tmp:  # a killed run never leaves half a weights file where the old one was
        torch.save({k: v.float().contiguous() for k, v in checkpoints.cpu_state(model).items()}, tmp)
    record = {
        "file": weights.name,
        "sha256": file_sha256(weights),
        "config": checkpoints.config_dict(FID_CONFIG),
        "train_split": FID_CONFIG.split,
        "test_accuracy": test_accuracy,
        "n_test": int(test.labels.shape[0]),
        "val_accuracy": None,
        "val_note": "no validation split: trained on all 60 000 training images for an epoch count fixed in advance",
        f"{MONITOR_SPLIT[FID_CONFIG.split]}_accuracy_per_epoch": history["val_accuracy"],
        "train_loss_per_epoch": history["train_loss"],
        "epochs": FID_CONFIG.epochs,
        "train_seconds": round(sum(history["seconds"]), 1),
        "seconds_note": "sum over epochs of training plus scoring the 10 000 test images after each epoch",
        "torch_threads": threads,
        "torch_version": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "retrain_command": RETRAIN_COMMAND,
    }
    atomic_write_text(out_dir / weights.with_suffix(".json").name, json.dumps(record, indent=2) + "\n")
    log(f"wrote {weights} (sha256 {record['sha256']}), test accuracy {test_accuracy:.4f}")
    return record


@contextlib.contextmanager
def _fresh_cache() -> Iterator[Path]:
    """A temporary folder, with `$PROBGEN_CACHE` pointing into it for the duration (so nothing is reused)."""
    before = os.environ.get("PROBGEN_CACHE")
    with tempfile.TemporaryDirectory(prefix="fid_retrain_") as tmp:
        os.environ["PROBGEN_CACHE"] = str(Path(tmp) / "cache")
        try:
            yield Path(tmp)
        finally:
            if before is None:
                os.environ.pop("PROBGEN_CACHE", None)
            else:
                os.environ["PROBGEN_CACHE"] = before


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 when `--check` finds other weights)."""
    parser = argparse.ArgumentParser(prog="python -m probgen.metrics.retrain", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=FID_WEIGHTS_PATH.parent,
                        help="folder for fid_classifier.pt and .json (default: the committed weights folder)")
    parser.add_argument("--check", action="store_true",
                        help="train from scratch into a temporary folder and compare with the committed weights")
    parser.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default: $PROBGEN_DATA)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch threads (default: %(default)s)")
    args = parser.parse_args(argv)

    if not args.check:
        record = retrain(args.out, data_dir=args.data_dir, threads=args.threads)
        if record["sha256"] != FID_CLASSIFIER_SHA256:
            print(f"the new weights differ from the committed ones: set FID_CLASSIFIER_SHA256 = "
                  f"\"{record['sha256']}\" in probgen/metrics/classifier.py (every FID in the book changes)")
        return 0

    committed = json.loads(FID_WEIGHTS_PATH.with_suffix(".json").read_text())
    with _fresh_cache() as tmp:
        record = retrain(tmp / "weights", data_dir=args.data_dir, threads=args.threads)
    same = record["sha256"] == FID_CLASSIFIER_SHA256
    print(f"sha256:        committed {FID_CLASSIFIER_SHA256}\n               retrained {record['sha256']} "
          f"({'identical' if same else 'DIFFERENT'})")
    print(f"test accuracy: committed {committed['test_accuracy']:.4f}, retrained {record['test_accuracy']:.4f}")
    if not same:
        print(f"bit-identical weights need torch {committed['torch_version']} with "
              f"{committed['torch_threads']} threads on a {committed['cpu']} CPU; this run: torch "
              f"{torch.__version__}, {args.threads} threads, {record['cpu']}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Is a generative model copying its training set? Nearest training images and the d1/d2 ratio test.

For each generated sample find its two nearest training images (Euclidean distance between flattened
images) and count it as memorized when d1 / d2 < 1/3: much closer to one training image than to any
other, as a copy is (d1 = 0), while a novel image is about as far from its first as from its second
neighbour.

- `nearest_neighbours(queries, reference, k)`: batched exact k-nearest-neighbour search, on a device.
- `distance_ratio(distances)`, `memorized(distances, threshold)`: the test on the (Q, 2) distances.
- `memorization_report(samples, train)`: everything for the table and the "sample / nearest training
  image" figure, as CPU tensors.
"""

from __future__ import annotations

import math

import torch

from .runtime import ConfigError

DEFAULT_THRESHOLD = 1.0 / 3.0


def _as_rows(name: str, x: torch.Tensor) -> torch.Tensor:
    """(N, D) view of an (N, ...) tensor of real numbers; a clear `ValueError` otherwise."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, ...), got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape (N, ...) with one row per image, got shape {tuple(x.shape)}; "
                         f"for a single image use {name}[None]")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers (float or integer pixels), got dtype {x.dtype}")
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def _check_batch(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r} must be a positive integer")
    return value


@torch.no_grad()
def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, k: int = 2, batch_size: int = 1024,
                       reference_batch_size: int = 8192, device: str | torch.device | None = None,
                       candidates: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest reference rows of each query, by Euclidean distance between flattened rows.

    Args:
        queries: (Q, ...) e.g. generated images (Q, 1, 28, 28); any real dtype (uint8 pixels too).
        reference: (R, ...) with the same trailing shape, e.g. the training images; R ≥ k.
        k: how many neighbours.
        batch_size: queries per block; reference_batch_size: reference rows per block. One block
            costs batch_size × reference_batch_size float32 (32 MiB at the defaults), so 10 000 × 60 000
            MNIST runs in blocks; the reference itself is copied to the device once as float32
            (188 MB for MNIST).
        device: where to compute; default the queries' device.
        candidates: how many neighbours the float32 pass keeps before the exact re-ranking
            (default k + 8).

    Returns:
        distances: (Q, k) float64, ascending along each row;
        indices: (Q, k) long rows of `reference`; both on the compute device.

    Method: the squared distances of a block come from the expansion ‖a‖² + ‖b‖² − 2 a·b, one float32
    matrix product (fast on a GPU), clamped at 0. That expansion cancels catastrophically when a and b
    are close: for MNIST ‖a‖² ≈ 100, so its float32 rounding error (≈ 1e-5) swamps the squared
    distance of a near-copy and an exact copy may come out as a small positive number or 0 among
    several ties. It is only used to shortlist `candidates` neighbours; their distances are then
    recomputed exactly, as ‖a − b‖ in float64 from the differences, and re-ranked. So a copy gets
    d1 = 0 exactly, and the order is exact unless more than `candidates` rows sit within float32
    error of the k-th distance.

    Ties: rows at the same exact distance come in increasing reference index (a stable sort), so
    the result is deterministic.
    """
    q = _as_rows("queries", queries)
    r = _as_rows("reference", reference)
    if queries.shape[1:] != reference.shape[1:]:
        raise ValueError(f"queries have items of shape {tuple(queries.shape[1:])} but the reference has "
                         f"{tuple(reference.shape[1:])}; both must be (N, ...) with the same item shape")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= r.shape[0]:
        raise ConfigError(f"k={k!r} must be an integer in [1, R = {r.shape[0]}] (R reference rows)")
    _check_batch("batch_size", batch_size)
    _check_batch("reference_batch_size", reference_batch_size)
    n_cand = min(r.shape[0], k + 8 if candidates is None else candidates)
    if n_cand < k:
        raise ConfigError(f"candidates={candidates!r} must be at least k={k}")
    for name, x in (("queries", q), ("reference", r)):
        if x.is_floating_point() and not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x).all(dim=1)).sum())
            raise ValueError(f"{bad} {name} row(s) contain NaN or inf; drop or clip them before the search")
    dev = torch.device(device) if device is not None else q.device

    ref32 = r.to(device=dev, dtype=torch.float32)
    ref_sq = (ref32 * ref32).sum(1)  # (R,)
    ref_exact = r.to(dev)  # gathered rows are cast to float64 for the exact distances
    out_d, out_i = [], []
    for q0 in range(0, q.shape[0], batch_size):
        qb = q[q0:q0 + batch_size].to(dev)
        qb32 = qb.to(torch.float32)
        q_sq = (qb32 * qb32).sum(1, keepdim=True)  # (B, 1)
        best_v = torch.empty(qb.shape[0], 0, dtype=torch.float32, device=dev)
        best_i = torch.empty(qb.shape[0], 0, dtype=torch.long, device=dev)
        for r0 in range(0, r.shape[0], reference_batch_size):
            rb = ref32[r0:r0 + reference_batch_size]
            sq = (q_sq + ref_sq[r0:r0 + rb.shape[0]] - 2.0 * qb32 @ rb.T).clamp_(min=0)  # (B, Rb)
            v, i = torch.topk(sq, min(n_cand, rb.shape[0]), dim=1, largest=False)
            best_v = torch.cat([best_v, v], dim=1)
            best_i = torch.cat([best_i, i + r0], dim=1)
            if best_v.shape[1] > n_cand:
                v, j = torch.topk(best_v, n_cand, dim=1, largest=False)
                best_v, best_i = v, torch.gather(best_i, 1, j)
        # Exact re-ranking of the shortlist: float64 differences, then sort by (distance, index).
        diff = ref_exact[best_i].to(torch.float64) - qb.to(torch.float64)[:, None, :]  # (B, C, D)
        exact = diff.pow(2).sum(-1).sqrt()  # (B, C)
        by_index = torch.argsort(best_i, dim=1)
        exact, best_i = torch.gather(exact, 1, by_index), torch.gather(best_i, 1, by_index)
        order = torch.sort(exact, dim=1, stable=True).indices[:, :k]
        out_d.append(torch.gather(exact, 1, order))
        out_i.append(torch.gather(best_i, 1, order))
    if not out_d:
        return (torch.empty(0, k, dtype=torch.float64, device=dev), torch.empty(0, k, dtype=torch.long, device=dev))
    return torch.cat(out_d), torch.cat(out_i)


def _check_distances(distances: torch.Tensor) -> torch.Tensor:
    if not isinstance(distances, torch.Tensor) or distances.dim() != 2 or distances.shape[1] < 2:
        shape = tuple(distances.shape) if isinstance(distances, torch.Tensor) else type(distances).__name__
        raise ValueError(f"distances must be a (Q, k ≥ 2) tensor of ascending neighbour distances, as returned "
                         f"by nearest_neighbours(..., k=2); got {shape}")
    d = distances[:, :2].to(torch.float64)
    if (d < 0).any() or (d[:, 0] > d[:, 1]).any() or torch.isnan(d).any():
        raise ValueError("distances must be non-negative and ascending along each row (d1 <= d2)")
    return d


def distance_ratio(distances: torch.Tensor) -> torch.Tensor:
    """(Q,) float64 d1 / d2 of (Q, ≥ 2) ascending neighbour distances, in [0, 1].

    When d2 = 0 then d1 = 0 too (the sample equals two identical training images) and the ratio is
    defined as 0: an exact copy is memorized even if the training set holds it twice.
    """
    d = _check_distances(distances)
    d1, d2 = d[:, 0], d[:, 1]
    return torch.where(d2 > 0, d1 / torch.where(d2 > 0, d2, torch.ones_like(d2)), torch.zeros_like(d1))


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ConfigError(f"threshold={threshold!r} must be a number in (0, 1]; the usual one is 1/3")
    return float(threshold)


def memorized(distances: torch.Tensor, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """(Q,) bool: d1 / d2 < `threshold` (see `distance_ratio`; d1 = d2 = 0 counts as memorized).

    Caveat: a near-copy (d1 small but > 0) of an image the training set holds twice has d1 ≈ d2 and is
    not flagged; deduplicate the training set first for a stricter count.
    """
    return distance_ratio(distances) < _check_threshold(threshold)


def memorization_report(samples: torch.Tensor, train: torch.Tensor, threshold: float = DEFAULT_THRESHOLD,
                        batch_size: int = 1024, reference_batch_size: int = 8192,
                        device: str | torch.device | None = None) -> dict:
    """Nearest training images of generated samples and the memorization count.

    Args:
        samples: (Q, ...) generated images; train: (R, ...) training images of the same item shape
            (and the same scaling: compare [0, 1] pixels with [0, 1] pixels).

    Returns a dict of CPU values:
        fraction: float, the fraction of samples memorized; n_memorized: int; n: Q;
        threshold: the ratio threshold used;
        memorized: (Q,) bool; ratio: (Q,) float64 d1/d2;
        distances: (Q, 2) float64 d1, d2; nearest: (Q, 2) long indices of the two nearest training
            images (train[nearest[:, 0]] next to samples is the "sample / nearest neighbour" figure).
    """
    threshold = _check_threshold(threshold)
    dist, idx = nearest_neighbours(samples, train, k=2, batch_size=batch_size,
                                   reference_batch_size=reference_batch_size, device=device)
    dist, idx = dist.cpu(), idx.cpu()
    ratio = distance_ratio(dist)
    flags = ratio < threshold
    n = int(flags.shape[0])
    return {"fraction": float(flags.double().mean()) if n else float("nan"), "n_memorized": int(flags.sum()),
            "n": n, "threshold": threshold, "memorized": flags, "ratio": ratio, "distances": dist,
            "nearest": idx}

"""Fréchet distance between Gaussians fitted to classifier features (the book's FID).

FID(a, b) = ||mu_a - mu_b||² + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}), where (mu, S)
are the mean and covariance of the 128-d features of the committed
`MNISTClassifier` (`load_fid_classifier`; not Inception: section 2 of
EXERCISES.md). The estimate is biased upwards for small N, so an FID is only
comparable to another at the same N: the book reports N, and beside every FID
the floor and ceiling of `fid_reference` at that N.

- `fid(real, generated)`: FID of two image sets, (N, 1, 28, 28) in [-1, 1].
- `fid_stats(images)` once for a reference set, then `fid_from_stats(stats, generated)` per generated set.
- `feature_fid(features_a, features_b)` and `frechet_distance(mu1, sigma1, mu2, sigma2)`: the feature level.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .. import checkpoints
from .classifier import FID_CLASSIFIER_SHA256, MNISTClassifier, check_images, load_fid_classifier

METHODS = ("eigh", "sqrtm")


def _as_float64(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, ddof=1) of features, in float64.

    Args:
        features: (N, d) array or tensor, N ≥ 2.
    Returns:
        (mu (d,), sigma (d, d)).
    """
    f = _as_float64(features, "features")
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must have shape (N, d) with N ≥ 2, not {f.shape}")
    mu = f.mean(axis=0)
    centred = f - mu  # (N, d)
    sigma = centred.T @ centred / (f.shape[0] - 1)  # (d, d)
    return mu, sigma


def _check_stats(mu, sigma, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu, sigma = _as_float64(mu, f"mu{name}"), _as_float64(sigma, f"sigma{name}")
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"mu{name} must be (d,) and sigma{name} (d, d); got {mu.shape} and {sigma.shape}")
    scale = max(np.abs(sigma).max(), 1e-300)
    if np.abs(sigma - sigma.T).max() > 1e-8 * scale:
        raise ValueError(f"sigma{name} is not symmetric (max |S - S^T| = {np.abs(sigma - sigma.T).max():.3g})")
    return mu, (sigma + sigma.T) / 2


def _psd_sqrt(sigma: np.ndarray, name: str) -> np.ndarray:
    """Symmetric square root of a PSD matrix; rounding-level negative eigenvalues are set to 0."""
    w, v = np.linalg.eigh(sigma)
    tol = 1e-10 * max(w.max(initial=0.0), 1e-300) * sigma.shape[0]
    if w.min() < -tol:
        raise ValueError(f"sigma{name} is not positive semi-definite (smallest eigenvalue {w.min():.3g})")
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) as Tr((S1^{1/2} S2 S1^{1/2})^{1/2}): similar matrices, the latter symmetric PSD."""
    root1 = _psd_sqrt(sigma1, "1")
    _psd_sqrt(sigma2, "2")  # only to check sigma2 is PSD
    m = root1 @ sigma2 @ root1
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """Tr((S1 S2)^{1/2}) with scipy's sqrtm, retrying with eps·I added to both if the product is singular."""
    from scipy import linalg

    def attempt(a, b):
        root = linalg.sqrtm(a @ b)
        ok = np.all(np.isfinite(root))
        return root, ok

    root, ok = attempt(sigma1, sigma2)
    if not ok:
        offset = eps * np.eye(sigma1.shape[0])
        root, ok = attempt(sigma1 + offset, sigma2 + offset)
        if not ok:
            raise FloatingPointError(f"sqrtm(S1 S2) is not finite even with {eps:g}·I added to both covariances; "
                                     "use method='eigh'")
    if np.iscomplexobj(root):
        imag = np.abs(np.diagonal(root).imag).max()
        if imag > 1e-3 * max(np.abs(np.diagonal(root).real).max(), 1e-12):
            raise FloatingPointError(f"sqrtm(S1 S2) has a significant imaginary part ({imag:.3g}); "
                                     "use method='eigh'")
        root = root.real
    return float(np.trace(root))


def frechet_distance(mu1, sigma1, mu2, sigma2, *, method: str = "eigh", eps: float = 1e-6) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}), in float64.

    Args:
        mu1, mu2: (d,) means.
        sigma1, sigma2: (d, d) symmetric positive semi-definite covariances.
        method: "eigh" (default) computes Tr((sigma1 sigma2)^{1/2}) from the eigenvalues of the
            symmetric PSD matrix sigma1^{1/2} sigma2 sigma1^{1/2}: real, and stable for singular
            covariances (e.g. N < d). "sqrtm" uses scipy.linalg.sqrtm of the non-symmetric product,
            as the reference FID code does, adding eps·I to both covariances if that fails.
        eps: the regulariser of the "sqrtm" retry.
    Returns:
        the distance, a float ≥ 0 (rounding-level negatives are returned as 0).
    Raises:
        ValueError: shapes disagree, a covariance is not symmetric PSD, or values are not finite.
        FloatingPointError: "sqrtm" fails even with the eps retry.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed; choose one of {METHODS}")
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two Gaussians have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    diff = mu1 - mu2
    if method == "eigh":
        tr_root = _trace_sqrt_product_eigh(sigma1, sigma2)
    else:
        tr_root = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_root)
    return max(value, 0.0)


def feature_fid(features_a, features_b, *, method: str = "eigh") -> float:
    """FID between two sets of features, (N_a, d) and (N_b, d): the Fréchet distance of their Gaussian fits."""
    mu_a, sigma_a = gaussian_stats(features_a)
    mu_b, sigma_b = gaussian_stats(features_b)
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b, method=method)


def bootstrap_fids(reference, features, index) -> np.ndarray:
    """FIDs of resamples of `features` against fixed reference statistics, one per row of `index`.

    The reference's square root R = Σ_r^½ is computed once: Tr((Σ_r Σ)^½) = Tr((R Σ R)^½), one symmetric
    eigenvalue problem per resample (the "eigh" method of `frechet_distance`), batched, in float64, on one
    thread: 128 × 128 eigenproblems are far slower with several BLAS threads on a busy machine (tens of times,
    measured on 2 loaded cores).

    Args:
        reference: (mu (d,), sigma (d, d)) of the reference features.
        features: (N, d) generated features.
        index: (B, N) integer rows of `features` making each resample (drawn by the caller, with replacement).
    Returns:
        (B,) float64 FIDs, not clamped at 0.
    """
    from ..runtime import torch_threads

    f = torch.as_tensor(np.asarray(features, dtype=np.float64))
    mu_r, sigma_r = (np.asarray(a, dtype=np.float64) for a in reference)
    index = torch.as_tensor(np.asarray(index))
    n, d = f.shape
    if mu_r.shape != (d,) or sigma_r.shape != (d, d):
        raise ValueError(f"reference must be (mu (d,), sigma (d, d)) with d = {d}, the features' dimension; "
                         f"got shapes {mu_r.shape} and {sigma_r.shape}")
    if index.ndim != 2 or index.shape[1] != n:
        raise ValueError(f"index must be (B, N) with N = {n}, not of shape {tuple(index.shape)}")
    chunk = max(1, min(index.shape[0], 2**24 // (n * d)))  # at most ~128 MB of resampled features at once
    out = []
    with torch_threads(1):
        sigma_ref = torch.from_numpy((sigma_r + sigma_r.T) / 2)
        w, v = torch.linalg.eigh(sigma_ref)
        root = (v * w.clamp(min=0).sqrt()) @ v.T
        mu_ref, trace_ref = torch.from_numpy(mu_r), float(sigma_ref.diagonal().sum())
        for start in range(0, index.shape[0], chunk):
            g = f[index[start:start + chunk]]  # (b, N, d)
            mu_g = g.mean(1)  # (b, d)
            centred = g - mu_g[:, None]
            sigma_g = centred.transpose(1, 2) @ centred / (n - 1)  # (b, d, d), unbiased as in `gaussian_stats`
            m = root @ sigma_g @ root
            tr_root = torch.linalg.eigvalsh((m + m.transpose(1, 2)) / 2).clamp(min=0).sqrt().sum(1)
            diff = mu_ref - mu_g
            out.append((diff * diff).sum(1) + trace_ref + sigma_g.diagonal(dim1=1, dim2=2).sum(1) - 2 * tr_root)
    return torch.cat(out).numpy()


@torch.no_grad()
def extract_features(classifier: MNISTClassifier, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """The classifier's 128-d features (eval mode: no dropout) of images, as float64 numpy.

    Args:
        classifier: a trained `MNISTClassifier` (its mode is restored afterwards).
        images: (N, 1, 28, 28) float images in [-1, 1] (MNIST view "symmetric"); [0, 1] or
            [0, 255] pixels are refused with a ValueError naming the view to use.
        batch_size: images per forward pass.
    Returns:
        (N, 128) float64 array.
    """
    check_images(images)
    p = next(classifier.parameters())
    was_training = classifier.training
    classifier.eval()
    try:
        out = [classifier.features(images[s:s + batch_size].to(device=p.device, dtype=p.dtype)).double().cpu()
               for s in range(0, images.shape[0], batch_size)]
    finally:
        classifier.train(was_training)
    return torch.cat(out).numpy()


def fid_stats(images: torch.Tensor, *, classifier: MNISTClassifier | None = None,
              batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the FID features of images: compute a reference set's once, reuse it.

    Args:
        images: (N, 1, 28, 28) float images in [-1, 1], N ≥ 2.
        classifier: the feature network; None: `load_fid_classifier` on the images' device.
        batch_size: images per forward pass.
    Returns:
        (mu (128,), sigma (128, 128)), float64 numpy.
    """
    check_images(images)
    if classifier is None:
        classifier = load_fid_classifier(images.device)
    return gaussian_stats(extract_features(classifier, images, batch_size))


def fid_from_stats(reference: tuple[np.ndarray, np.ndarray], generated: torch.Tensor, *,
                   classifier: MNISTClassifier | None = None, batch_size: int = 500) -> float:
    """FID between precomputed `fid_stats` of a reference set and (N, 1, 28, 28) images in [-1, 1].

    The stats must come from the same classifier (by default both use the committed one).
    """
    mu_ref, sigma_ref = reference
    mu_gen, sigma_gen = fid_stats(generated, classifier=classifier, batch_size=batch_size)
    return frechet_distance(mu_ref, sigma_ref, mu_gen, sigma_gen)


def fid(real: torch.Tensor, generated: torch.Tensor, *, classifier: MNISTClassifier | None = None,
        batch_size: int = 500) -> float:
    """The book's FID between two image sets, each (N, 1, 28, 28) float in [-1, 1] (MNIST view "symmetric").

    Features are extracted `batch_size` images at a time; [0, 1] or [0, 255]
    pixels are refused with a ValueError. Report N with the value (the bias
    depends on it), and compare it with `fid_reference(N)`.

    Args:
        real, generated: the two sets (their sizes may differ; each needs N ≥ 2).
        classifier: the feature network; None: the committed one (`load_fid_classifier`) on `real`'s device.
        batch_size: images per forward pass.
    Returns:
        the FID, a float ≥ 0.
    """
    check_images(real, "real")
    check_images(generated, "generated")
    if classifier is None:
        classifier = load_fid_classifier(real.device)
    return fid_from_stats(fid_stats(real, classifier=classifier, batch_size=batch_size), generated,
                          classifier=classifier, batch_size=batch_size)


def fid_reference(n: int, *, seed: int = 0, data_dir=None, log: Callable[[str], None] = print) -> dict:
    """The floor and ceiling to print beside an FID computed from n images: {"n", "floor", "ceiling"}.

    - floor: FID(first n MNIST test images, n training images drawn without replacement from
      "trainval" with `seed`): two real samples, so no model can be expected to beat it at this n.
    - ceiling: FID(n noise images, first n test images), the noise i.i.d. uniform in [-1, 1]
      per pixel (drawn with `seed`): what a model that learned nothing gets.

    Both use the committed classifier on CPU. The result is cached (`checkpoints.cached_json`)
    under n, the seed, the weights' SHA-256 and fingerprints of the two MNIST splits.

    Args:
        n: images per set, 2 ≤ n ≤ 10 000 (the test set's size).
        seed: picks the training images and the noise.
        data_dir: where the MNIST IDX files are (default `$PROBGEN_DATA` or `<repo>/data`).
        log: where the cache messages go.
    """
    from ..data.mnist import load_mnist

    test = load_mnist("test", "symmetric", data_dir=data_dir)
    if not (isinstance(n, int) and not isinstance(n, bool) and 2 <= n <= test.images.shape[0]):
        raise ValueError(f"n={n!r} must be an integer in [2, {test.images.shape[0]}] (the MNIST test set's size)")
    train = load_mnist("trainval", "symmetric", data_dir=data_dir)
    test_x, train_x = test.images, train.images
    key = {"n": n, "seed": seed, "weights_sha256": FID_CLASSIFIER_SHA256,
           "test_x": checkpoints.data_fingerprint(test_x), "trainval_x": checkpoints.data_fingerprint(train_x)}

    def compute() -> dict:
        g = torch.Generator().manual_seed(seed)
        picked = train_x[torch.randperm(train_x.shape[0], generator=g)[:n]]
        noise = torch.rand((n, 1, 28, 28), generator=g) * 2 - 1
        classifier = load_fid_classifier("cpu")
        test_stats = fid_stats(test_x[:n], classifier=classifier)
        return {"n": n, "floor": fid_from_stats(test_stats, picked, classifier=classifier),
                "ceiling": fid_from_stats(test_stats, noise, classifier=classifier)}

    return checkpoints.cached_json("fid_reference", key, compute, log=log)

import pytest
import torch

from probgen.memorization import distance_ratio, memorization_report, memorized, nearest_neighbours
from probgen.runtime import ConfigError


def _brute_force(q, r, k):
    """Reference: full float64 cdist, then a sort by (distance, index)."""
    d = torch.cdist(q.reshape(len(q), -1).double(), r.reshape(len(r), -1).double())
    order = torch.sort(d, dim=1, stable=True).indices[:, :k]  # stable: ties keep increasing index
    return torch.gather(d, 1, order), order


@pytest.mark.parametrize("batch,ref_batch,k", [(7, 13, 2), (50, 37, 3), (1, 5, 1), (64, 1000, 5), (3, 2, 2)])
def test_equals_brute_force(batch, ref_batch, k):
    g = torch.Generator().manual_seed(0)
    q = torch.rand(50, 1, 4, 4, generator=g)
    r = torch.rand(37, 1, 4, 4, generator=g)
    dist, idx = nearest_neighbours(q, r, k=k, batch_size=batch, reference_batch_size=ref_batch)
    ref_d, ref_i = _brute_force(q, r, k)
    assert dist.dtype == torch.float64 and idx.dtype == torch.long and dist.shape == (50, k)
    assert torch.equal(idx, ref_i)
    assert torch.allclose(dist, ref_d, rtol=0, atol=1e-12)


def test_mnist_scale_near_duplicates_are_ranked_exactly():
    # Large norms and tiny differences: the float32 expansion alone cannot order these.
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 784, generator=g, dtype=torch.float64)
    steps = torch.tensor([3e-4, 1e-4, 2e-4, 5e-4, 0.0], dtype=torch.float64)
    r = base + steps[:, None] * torch.randn(5, 784, generator=g, dtype=torch.float64)
    dist, idx = nearest_neighbours(base, r, k=5, reference_batch_size=2)
    ref_d, ref_i = _brute_force(base, r, 5)
    assert torch.equal(idx, ref_i) and idx[0, 0] == 4 and dist[0, 0] == 0.0
    assert torch.allclose(dist, ref_d, rtol=1e-12, atol=0)


def test_exact_copies_flagged_and_distinct_images_not():
    g = torch.Generator().manual_seed(2)
    train = torch.rand(40, 1, 8, 8, generator=g)
    copies = train[[3, 17, 39]].clone()
    noise = torch.rand(5, 1, 8, 8, generator=g)  # fresh random images: far from every training image
    perturbed = (train[[5]] + 0.5 * torch.randn(1, 1, 8, 8, generator=g))  # a copy with a big perturbation
    report = memorization_report(torch.cat([copies, noise, perturbed]), train, reference_batch_size=16)
    assert report["memorized"].tolist() == [True] * 3 + [False] * 6
    assert report["ratio"][:3].tolist() == [0.0, 0.0, 0.0] and (report["ratio"][3:] > 0.5).all()
    assert report["nearest"][:3, 0].tolist() == [3, 17, 39]
    assert report["fraction"] == pytest.approx(3 / 9) and report["n_memorized"] == 3 and report["n"] == 9
    assert report["distances"].shape == (9, 2) and report["threshold"] == pytest.approx(1 / 3)
    # A slightly perturbed copy is still memorized; uint8 pixel images work the same way.
    slight = train[[8]] + 0.01 * torch.randn(1, 1, 8, 8, generator=g)
    assert memorization_report(slight, train)["memorized"].tolist() == [True]
    as_uint8 = (train * 255).to(torch.uint8)
    assert memorization_report(as_uint8[:4], as_uint8)["memorized"].all()


def test_duplicated_training_image_behaves_as_documented():
    g = torch.Generator().manual_seed(3)
    train = torch.rand(20, 16, generator=g)
    train[11] = train[4]
    dist, idx = nearest_neighbours(train[[11]], train, k=2)
    assert idx.tolist() == [[4, 11]] and dist.tolist() == [[0.0, 0.0]]  # ties in increasing index
    assert memorized(dist).tolist() == [True] and distance_ratio(dist).tolist() == [0.0]  # 0/0 := 0
    near = train[[4]] + 1e-3 * torch.randn(1, 16, generator=g)
    assert memorization_report(near, train)["memorized"].tolist() == [False]  # d1 ≈ d2: documented caveat


def test_ratio_and_threshold():
    d = torch.tensor([[0.0, 1.0], [1.0, 3.0], [0.9, 3.0], [2.0, 2.0], [0.0, 0.0]])
    assert distance_ratio(d).tolist() == pytest.approx([0.0, 1 / 3, 0.3, 1.0, 0.0])
    assert memorized(d).tolist() == [True, False, True, False, True]
    assert memorized(d, threshold=0.5).tolist() == [True, True, True, False, True]
    for bad in (0.0, 1.5, -1, float("nan"), "1/3"):
        with pytest.raises(ConfigError, match="threshold"):
            memorized(d, threshold=bad)
    with pytest.raises(ValueError, match="ascending"):
        memorized(torch.tensor([[2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\(Q, k ≥ 2\)"):
        memorized(torch.tensor([1.0, 2.0]))


def test_shape_dtype_and_parameter_errors():
    r = torch.rand(10, 1, 4, 4)
    with pytest.raises(ValueError, match="same item shape"):
        nearest_neighbours(torch.rand(3, 1, 4, 5), r)
    with pytest.raises(ValueError, match=r"shape \(N, ...\)"):
        nearest_neighbours(torch.rand(16), r.reshape(10, 16))
    with pytest.raises(ValueError, match="real numbers"):
        nearest_neighbours(torch.ones(2, 16, dtype=torch.bool), r.reshape(10, 16))
    with pytest.raises(ValueError, match="NaN or inf"):
        nearest_neighbours(torch.full((2, 1, 4, 4), float("nan")), r)
    with pytest.raises(ConfigError, match="k=11"):
        nearest_neighbours(torch.rand(2, 1, 4, 4), r, k=11)
    with pytest.raises(ConfigError, match="batch_size"):
        nearest_neighbours(torch.rand(2, 1, 4, 4), r, batch_size=0)
    dist, idx = nearest_neighbours(torch.rand(0, 1, 4, 4), r)
    assert dist.shape == (0, 2) and idx.shape == (0, 2)


def test_explicit_device_and_float64_inputs():
    g = torch.Generator().manual_seed(4)
    q, r = torch.rand(9, 5, generator=g, dtype=torch.float64), torch.rand(12, 5, generator=g, dtype=torch.float64)
    dist, idx = nearest_neighbours(q, r, k=4, device="cpu", batch_size=4, reference_batch_size=5)
    ref_d, ref_i = _brute_force(q, r, 4)
    assert torch.equal(idx, ref_i) and torch.allclose(dist, ref_d, rtol=0, atol=1e-12)

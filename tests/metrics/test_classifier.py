import numpy as np
import pytest
import torch

from probgen.data import files
from probgen.metrics import (
    ClassifierConfig,
    MNISTClassifier,
    accuracy,
    build_classifier,
    extract_features,
    fid,
    load_or_train_classifier,
    predict_proba,
    train_classifier,
)
from probgen.metrics import classifier as clf_module
from probgen.runtime import ConfigError

from ..tolerances import rounding_tol

TINY = dict(epochs=2, batch_size=64, lr=1e-3, n_train=None, device="cpu", seed=0)


def blob_digits(n, seed):
    """Synthetic 'digits' in [-1, 1]: a bright 6x6 square whose position is the class, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.full((n, 1, 28, 28), -1.0)
    for i, c in enumerate(y.tolist()):
        r, col = 2 + 12 * (c // 5), 1 + 5 * (c % 5)
        x[i, 0, r:r + 6, col:col + 6] = 1.0
    x = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    return x, y


@pytest.fixture(scope="module")
def data():
    (tx, ty), (vx, vy) = blob_digits(256, 1), blob_digits(128, 2)
    return dict(train_x=tx, train_y=ty, val_x=vx, val_y=vy)


def _train(cfg, data, logs=None):
    logs = [] if logs is None else logs
    return train_classifier(cfg, **data, log=logs.append, progress=False)


def test_architecture_is_the_one_exercises_fixes():
    model = MNISTClassifier()
    layers = [type(m).__name__ for m in model.children()]
    assert layers == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Dropout", "Flatten",
                      "Linear", "Dropout", "Linear"]
    assert (model.fc1.in_features, model.fc1.out_features, model.fc2.out_features) == (9216, 128, 10)
    assert (model.dropout1.p, model.dropout2.p) == (0.25, 0.5)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, 128)


def test_build_is_seeded():
    a = build_classifier(ClassifierConfig(seed=0)).state_dict()
    b = build_classifier(ClassifierConfig(seed=0)).state_dict()
    c = build_classifier(ClassifierConfig(seed=1)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and any(not torch.equal(a[k], c[k]) for k in a)


def test_config_rejects_bad_values_and_unknown_keys():
    with pytest.raises(ConfigError, match="optimizer"):
        ClassifierConfig(optimizer="lbfgs")
    with pytest.raises(ConfigError, match="epochs"):
        ClassifierConfig(epochs=0)
    with pytest.raises(ConfigError, match="unknown parameter"):
        ClassifierConfig.for_profile("smoke", width=3)
    with pytest.raises(ConfigError, match="profile"):
        ClassifierConfig.for_profile("huge")
    assert ClassifierConfig.for_profile("full", seed=2).replace(epochs=1).seed == 2


def test_train_then_load_from_cache(data):
    cfg = ClassifierConfig(**TINY)
    logs = []
    model, history = _train(cfg, data, logs)
    assert isinstance(model, MNISTClassifier) and not model.training
    assert history["epoch"] == [1, 2] and set(history) == set(clf_module.HISTORY_KEYS)
    assert history["train_loss"][1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.5  # far above chance (0.1) on the easy synthetic classes
    assert accuracy(model, data["val_x"], data["val_y"]) == pytest.approx(history["val_accuracy"][-1])
    assert not any("loaded" in m for m in logs)

    logs.clear()
    again, history2 = _train(cfg, data, logs)
    assert any("loaded mnist_classifier" in m for m in logs) and history2 == history
    a, b = model.state_dict(), again.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)

    logs.clear()
    _train(cfg.replace(lr=2e-3), data, logs)  # another config trains again
    assert not any("loaded" in m for m in logs)
    other = dict(data, train_y=(data["train_y"] + 1) % 10)  # same images, other labels
    _train(cfg, other, logs)
    assert not any("loaded" in m for m in logs)


def test_interrupted_run_resumes_and_ends_with_the_same_weights(data, monkeypatch, tmp_path, interrupt_call):
    cfg = ClassifierConfig(**TINY)
    straight, straight_history = _train(cfg, data)

    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "other_cache"))
    # The 2nd call is the validation of epoch 2: epoch 1 has been saved.
    restore = interrupt_call(clf_module, "_loss_and_accuracy", at_call=2)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, data)
    restore()
    logs = []
    resumed, history = _train(cfg, data, logs)
    assert any("resuming mnist_classifier from step 1" in m for m in logs)
    assert history["epoch"] == [1, 2]
    assert history["val_accuracy"] == straight_history["val_accuracy"]
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_is_reported(data):
    cfg = ClassifierConfig(**TINY)
    bad = dict(data, train_x=data["train_x"].clone())
    bad["train_x"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        _train(cfg, bad)
    with pytest.raises(FloatingPointError, match="lower learning rate"):
        _train(cfg.replace(lr=1e12, optimizer="sgd"), data)


def test_features_are_pre_activation_float64_and_deterministic(data):
    model = build_classifier(ClassifierConfig())
    model.train()
    x = data["val_x"][:50]
    feats = extract_features(model, x, batch_size=16)
    assert feats.shape == (50, 128) and feats.dtype == np.float64
    assert (feats < 0).any() and (feats > 0).any()  # no ReLU: pre-activation outputs of Linear(9216, 128)
    assert model.training  # mode restored
    np.testing.assert_array_equal(feats, extract_features(model, x, batch_size=16))  # eval: no dropout
    model.eval()
    # Other batch sizes may run other float32 kernels. A feature is the dot product of Linear(9216, 128), whose
    # rounding is a few eps·(Σ_j |W_ij h_j| + |b_i|) (the size of its terms, not of the result, which cancels), plus
    # that of the convolutions before it, a few eps of the same size (measured: ≤ 0.3 of it); left-on dropout
    # would change the features by about their own size.
    inputs = []
    hook = model.fc1.register_forward_hook(lambda module, args, out: inputs.append(args[0]))
    with torch.no_grad():
        direct = model.features(x)
        terms = torch.nn.functional.linear(inputs[0].abs(), model.fc1.weight.abs(), model.fc1.bias.abs())
    hook.remove()
    tol = rounding_tol(torch.float32, terms.double().numpy(), ops=8)
    for other in (extract_features(model, x, batch_size=50), direct.double().numpy()):
        assert (np.abs(feats - other) <= tol).all(), np.abs(feats - other).max()
    probs = predict_proba(model, x)
    assert probs.shape == (50, 10) and torch.allclose(probs.sum(1), torch.ones(50))
    assert fid(x, x, classifier=model) == pytest.approx(0.0, abs=1e-6)


def test_images_outside_the_symmetric_range_are_refused(data):
    model = build_classifier(ClassifierConfig())
    unit = (data["val_x"][:8] + 1) / 2
    with pytest.raises(ValueError, match=r"\[0, 1\].*symmetric"):
        extract_features(model, unit)
    with pytest.raises(ValueError, match=r"\[0, 255\].*symmetric"):
        extract_features(model, unit * 255)
    with pytest.raises(ValueError, match="symmetric"):
        extract_features(model, (unit * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        extract_features(model, data["val_x"][:8].reshape(8, 784))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        accuracy(model, unit, data["val_y"][:8])


def _have_mnist():
    try:
        files.find("mnist/train-images-idx3-ubyte.gz")
        files.find("mnist/train-labels-idx1-ubyte.gz")
        return True
    except files.DataFileError:
        return False


@pytest.mark.skipif(not _have_mnist(), reason="MNIST not in the data directory (set PROBGEN_DATA)")
def test_load_or_train_on_512_real_mnist_images(monkeypatch):
    from probgen.data import mnist

    real_load = mnist.load_mnist
    monkeypatch.setattr(mnist, "load_mnist",  # validate on 500 images only, to keep the test fast
                        lambda split, view, **kw: real_load(split, view, **{**kw, "limit": kw.get("limit") or 500}))
    cfg = ClassifierConfig.for_profile("smoke", n_train=512, epochs=1, batch_size=32,
                                          device="cpu")
    logs = []
    model, history = load_or_train_classifier(cfg, log=logs.append, progress=False)
    assert history["val_accuracy"][0] > 0.5  # one epoch (16 steps) on 512 images: well above chance
    logs.clear()
    load_or_train_classifier(cfg, log=logs.append, progress=False)
    assert any("loaded mnist_classifier" in m for m in logs)

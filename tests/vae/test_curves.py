import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from probgen import vae  # noqa: E402
from probgen.vae.training import HISTORY_KEYS  # noqa: E402


def _history(offset=0.0):
    epochs = [1, 2, 3]
    h = {"epoch": epochs, "seconds": [1.0] * 3}
    for i, key in enumerate(k for k in HISTORY_KEYS if k not in ("epoch", "seconds")):
        h[key] = [offset + 10 * i + e for e in epochs]
    return h


def test_training_curves_draw_training_and_held_out_values_of_each_term():
    hist = _history()
    fig, axes = vae.plot_training_curves(hist)
    assert len(axes) == 3
    for ax, key in zip(axes, ("neg_elbo", "reconstruction_nll", "kl")):
        train, held_out = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), hist["epoch"])
        np.testing.assert_array_equal(train.get_ydata(), hist[f"train_{key}"])
        np.testing.assert_array_equal(held_out.get_ydata(), hist[f"val_{key}"])
        assert train.get_color() == held_out.get_color() and held_out.get_linestyle() == "--"
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "nats per image"
    plt.close(fig)


def test_training_curves_of_two_models_share_axes_with_their_own_labels():
    fig, axes = plt.subplots(1, 3)
    vae.plot_training_curves(_history(), axes, label="M = 2", color="C0")
    vae.plot_training_curves(_history(5.0), axes, label="M = 20", color="C1", held_out="test")
    labels = [line.get_label() for line in axes[1].get_lines()]
    assert labels == ["M = 2: training (epoch average)", "M = 2: held-out (end of epoch)",
                      "M = 20: training (epoch average)", "M = 20: test (end of epoch)"]
    plt.close(fig)


def test_training_curves_refuse_an_incomplete_history():
    hist = _history()
    del hist["val_kl"]
    with pytest.raises(ValueError, match="val_kl"):
        vae.plot_training_curves(hist)
    fig, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="3 axes"):
        vae.plot_training_curves(_history(), axes)
    plt.close("all")

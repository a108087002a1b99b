import numpy as np
import pytest
import torch

from probgen.data import DataFileError, MalformedDataError
from probgen.gp import generate, load_part_b, true_f
from probgen.gp import data as gp_data


def test_course_file_loads_with_true_inputs(tmp_path):
    try:
        data = load_part_b()
    except DataFileError:
        pytest.skip("gp/data_part_B.csv is not in the data directory")
    assert len(data) == 20
    assert sorted(data.delta.numpy()[[9, 10]].tolist()) == [-0.25, 0.25]
    # the true inputs explain y far better than the noisy ones
    resid_true = (data.y - true_f(data.x_true)).square().mean()
    resid_noisy = (data.y - true_f(data.x)).square().mean()
    assert resid_true < 0.01 < resid_noisy


def test_malformed_file_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "gp" / "data_part_B.csv"
    path.parent.mkdir()
    path.write_text("1,2\n3,4\n")
    monkeypatch.setattr(gp_data._data, "find", lambda relpath, data_dir=None: path)
    with pytest.raises(MalformedDataError, match="expected 3 finite columns"):
        load_part_b(tmp_path)


def test_generate_follows_the_model_and_is_reproducible():
    a, b = generate(20, seed=3), generate(20, seed=3)
    torch.testing.assert_close(a.y, b.y)
    np.testing.assert_allclose(a.x.numpy(), np.linspace(-1, 1, 22)[1:-1])
    noise = generate(4000, seed=5)
    resid = noise.y - true_f(noise.x_true)
    assert float(resid.std()) == pytest.approx(0.05, rel=0.05)
    assert float(noise.delta.std()) == pytest.approx(0.1, rel=0.05)
    with pytest.raises(ValueError, match="delta must have shape"):
        generate(5, delta=np.zeros(3))


def test_true_f_agrees_between_numpy_and_torch():
    x = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(true_f(torch.as_tensor(x)).numpy(), true_f(x))

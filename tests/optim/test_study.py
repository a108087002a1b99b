import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from probgen import optim, walker  # noqa: E402


@pytest.fixture(scope="module")
def study():
    methods = {"random search": optim.random_search, "CMA-ES": optim.cmaes}
    return optim.run_study(methods, optim.neg_sphere, dim=5, budget=100, seeds=[0, 1, 2])


def test_histories_are_tidy(study):
    h = study.histories
    assert list(h.columns) == ["method", "seed", "calls", "best"]
    assert len(h) == 2 * 3 * 100
    assert h.groupby(["method", "seed"])["best"].apply(lambda b: np.all(np.diff(b) >= 0)).all()


def test_summary_has_quartiles_over_seeds(study):
    s = study.summary.set_index("method")
    assert list(s.index) == ["random search", "CMA-ES"]
    assert (s["n_seeds"] == 3).all()
    assert (s["q25"] <= s["median"]).all() and (s["median"] <= s["q75"]).all()
    runs = study.runs[study.runs.method == "CMA-ES"]
    assert s.loc["CMA-ES", "median"] == pytest.approx(runs["best_value"].median())
    assert study.best().best_value == study.runs["best_value"].max()


def test_convergence_bands_and_plot(study):
    bands = optim.convergence_bands(study.histories, calls=[1, 10, 100])
    assert set(bands["calls"]) == {1, 10, 100} and (bands["n_seeds"] == 3).all()
    ax = optim.plot_convergence(plt.figure().gca(), study.histories)
    assert len(ax.lines) == 2
    plt.close("all")


def test_study_on_the_walker_with_a_tiny_budget():
    objective = functools.partial(walker.distance, seconds=0.5)
    st = optim.run_study({"SA": optim.simulated_annealing}, objective, dim=walker.PLAN_SIZE, budget=20, seeds=[0])
    best = st.best()
    assert best.best_value == walker.distance(best.best_x, seconds=0.5)  # the reported plan reproduces its value


def test_study_rejects_empty_inputs():
    with pytest.raises(ValueError, match="methods"):
        optim.run_study({}, optim.neg_sphere, dim=2, budget=5, seeds=[0])
    with pytest.raises(ValueError, match="seeds"):
        optim.run_study({"rs": optim.random_search}, optim.neg_sphere, dim=2, budget=5, seeds=[])

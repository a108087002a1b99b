import functools

import numpy as np
import pytest

from probgen import optim
from probgen.optim import cmaes, metropolis, neg_sphere, random_search, reflect, simulated_annealing

DIM, BUDGET = 10, 600
# Options that suit the 10-D sphere (values of order -1 to -10): a sharp target for Metropolis.
METHODS = {
    "random search": random_search,
    "metropolis": functools.partial(metropolis, beta=50.0),
    "simulated annealing": simulated_annealing,
    "CMA-ES": cmaes,
}
# Best value each method must reach on -||x - 0.3||^2 within BUDGET calls (random start: about -3.9 on average).
GOAL = {"random search": -2.0, "metropolis": -0.3, "simulated annealing": -0.3, "CMA-ES": -0.05}


@pytest.fixture(scope="module", params=list(METHODS))
def run(request):
    name = request.param
    return name, METHODS[name](neg_sphere, DIM, BUDGET, seed=0)


def test_improves_clearly_on_a_quadratic_with_known_optimum(run):
    name, res = run
    assert res.best_value > GOAL[name]
    assert res.best_value > res.values[0] + 1.0
    assert res.best_value == pytest.approx(neg_sphere(res.best_x))
    if name != "random search":
        # the local methods end near the optimum at x = 0.3
        assert np.abs(res.best_x - 0.3).max() < 0.5


def test_every_evaluated_point_stays_in_the_box(run):
    name, _ = run
    seen = []

    def spy(x):
        seen.append(np.array(x))
        return neg_sphere(x)

    res = METHODS[name](spy, DIM, 200, seed=1)
    pts = np.array(seen)
    assert pts.shape == (200, DIM) and res.n_calls == 200
    assert pts.min() >= -1 and pts.max() <= 1
    assert np.all(np.abs(res.best_x) <= 1)


def test_history_is_monotone_and_counts_calls_up_to_the_budget(run):
    _, res = run
    assert res.n_calls == BUDGET
    assert res.history.shape == (BUDGET, 2)
    np.testing.assert_array_equal(res.calls, np.arange(1, BUDGET + 1))
    assert np.all(np.diff(res.best_so_far) >= 0)
    np.testing.assert_array_equal(res.best_so_far, np.maximum.accumulate(res.values))
    assert res.best_so_far[-1] == res.best_value


def test_same_seed_same_result_and_other_seed_differs(run):
    name, res = run
    again = METHODS[name](neg_sphere, DIM, BUDGET, seed=0)
    np.testing.assert_array_equal(again.best_x, res.best_x)
    np.testing.assert_array_equal(again.history, res.history)
    assert METHODS[name](neg_sphere, DIM, BUDGET, seed=1).best_value != res.best_value


@pytest.mark.parametrize("budget", [1, 2, 7, 16])
def test_tiny_budgets_are_respected(budget):
    for method in METHODS.values():
        res = method(neg_sphere, DIM, budget, seed=0)
        assert res.n_calls == budget and len(res.history) == budget


def test_maximises_on_a_bound_too():
    # optimum at the corner x = 1: reflection lets every method reach the bound
    def f(x):
        return float(np.sum(x))

    for name, method in METHODS.items():
        res = method(f, 5, 400, seed=0)
        assert res.best_value > (3.0 if name == "random search" else 4.0), name


def test_parallel_map_gives_the_serial_result():
    serial = cmaes(neg_sphere, DIM, 60, seed=3)
    mapped = cmaes(neg_sphere, DIM, 60, seed=3, map_fn=lambda f, xs: list(map(f, xs)))
    np.testing.assert_array_equal(serial.history, mapped.history)
    rs = random_search(neg_sphere, DIM, 50, seed=3, batch_size=7, map_fn=lambda f, xs: [f(x) for x in xs])
    np.testing.assert_array_equal(rs.history, random_search(neg_sphere, DIM, 50, seed=3).history)


def test_workers_use_a_process_pool_with_the_same_result():
    pooled = random_search(neg_sphere, DIM, 40, seed=2, workers=2, batch_size=20)
    np.testing.assert_array_equal(pooled.history, random_search(neg_sphere, DIM, 40, seed=2).history)


def test_metropolis_tunes_its_step_towards_the_target_acceptance():
    res = metropolis(neg_sphere, DIM, 3000, seed=0, beta=20.0, burn_in=0.5, step=1.0)
    assert res.info["final_step"] < 0.5
    assert 0.15 < res.info["accept_rate"] < 0.5
    assert len(res.info["chain_values"]) == 3000


def test_annealing_schedule_is_geometric_and_stated():
    res = simulated_annealing(neg_sphere, DIM, 500, seed=0, t0=2.0, step=0.05)
    assert res.info["t0"] == 2.0
    assert res.info["final_temperature"] == pytest.approx(2.0e-3)
    assert res.info["alpha"] == pytest.approx(1e-3 ** (1 / 498))
    auto = simulated_annealing(neg_sphere, DIM, 500, seed=0)
    assert auto.info["t0"] > 0


def test_reflect_folds_into_the_box():
    x = np.array([-3.5, -1.2, -1.0, 0.3, 1.0, 1.2, 2.5, 5.0])
    np.testing.assert_allclose(reflect(x), [0.5, -0.8, -1.0, 0.3, 1.0, 0.8, -0.5, 1.0])
    np.testing.assert_allclose(reflect(np.array([2.5]), 0.0, 2.0), [1.5])


@pytest.mark.parametrize("kwargs, match", [
    (dict(dim=0), "dim=0"),
    (dict(budget=0), "budget=0"),
    (dict(seed=-1), "seed=-1"),
    (dict(dim=2.5), "dim=2.5"),
])
def test_bad_problem_arguments_are_rejected(kwargs, match):
    args = dict(dim=3, budget=10, seed=0) | kwargs
    for method in METHODS.values():
        with pytest.raises(ValueError, match=match):
            method(neg_sphere, **args)


def test_bad_options_and_objectives_are_rejected():
    with pytest.raises(ValueError, match="beta"):
        metropolis(neg_sphere, 3, 10, beta=0.0)
    with pytest.raises(ValueError, match="alpha"):
        simulated_annealing(neg_sphere, 3, 10, t0=1.0, alpha=1.5)
    with pytest.raises(ValueError, match="t0"):
        simulated_annealing(neg_sphere, 3, 10, t0="hot")
    with pytest.raises(ValueError, match="x0 has shape"):
        cmaes(neg_sphere, 3, 10, x0=np.zeros(4))
    with pytest.raises(ValueError, match="inside"):
        metropolis(neg_sphere, 3, 10, x0=np.full(3, 2.0))
    with pytest.raises(ValueError, match="NaN"):
        random_search(lambda x: float("nan"), 3, 10)
    with pytest.raises(ValueError, match="workers"):
        cmaes(neg_sphere, 3, 10, workers=0)
    assert set(optim.METHODS) == set(METHODS)

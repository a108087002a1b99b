"""Black-box optimisers of ``objective(x) -> float`` on a box, under a budget of calls.

Every optimiser has the signature ``method(objective, dim, budget, seed=0, **options)``
and returns an `OptimResult` (best_x, best_value, history of (calls, best so far)).
"""

from .annealing import simulated_annealing
from .base import OptimResult, parallel_map, reflect
from .cmaes import cmaes
from .mcmc import metropolis
from .random_search import random_search
from .study import StudyResult, convergence_bands, plot_convergence, run_study, summarise
from .testfunctions import neg_rastrigin, neg_sphere

METHODS = {
    "random search": random_search,
    "metropolis": metropolis,
    "simulated annealing": simulated_annealing,
    "CMA-ES": cmaes,
}

__all__ = [
    "OptimResult", "parallel_map", "reflect", "random_search", "metropolis", "simulated_annealing", "cmaes",
    "StudyResult", "run_study", "summarise", "convergence_bands", "plot_convergence", "neg_sphere",
    "neg_rastrigin", "METHODS",
]

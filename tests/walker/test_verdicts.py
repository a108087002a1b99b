"""The walker chapter's computed sentences follow made-up results one way, the other way, and to a tie."""

import math

import numpy as np
import pandas as pd
import pytest

from probgen.walker import study


def _runs(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "seed": s, "best_value": v} for m, vs in values.items()
                         for s, v in enumerate(vs)])


def test_method_verdicts_flip_with_the_results():
    clear = study.method_verdicts(_runs({"random search": [1.0, 1.1, 0.9], "CMA-ES": [5.0, 5.2, 4.8]}))
    assert clear["best"] == "CMA-ES"
    assert clear["ranking"].startswith("CMA-ES has the best mean distance over seeds (5.00 ± ")
    assert clear["random"].startswith("CMA-ES is better than random search in mean distance over seeds by 4.00")
    assert "1 of the 1 pairwise differences" in clear["spread"] and "smaller than" in clear["spread"]
    flipped = study.method_verdicts(_runs({"random search": [5.0, 5.2, 4.8], "CMA-ES": [1.0, 1.1, 0.9]}))
    assert flipped["best"] == "random search"
    assert flipped["random"].startswith("random search is better than CMA-ES")
    noisy = study.method_verdicts(_runs({"random search": [0.0, 4.0, 2.0], "CMA-ES": [1.0, 5.0, 3.0]}))
    assert "cannot be told apart" in noisy["ranking"] and "cannot be told apart" in noisy["random"]
    assert "none of the 1 pairwise differences" in noisy["spread"] and "larger than" in noisy["spread"]


def test_method_verdicts_need_a_spread_over_seeds():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        study.method_verdicts(_runs({"random search": [1.0], "CMA-ES": [2.0]}))


def test_median_se_is_the_normal_large_sample_value():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert study.median_se(x) == pytest.approx(math.sqrt(math.pi / 2) * x.std(ddof=1) / 2)
    assert study.median_se([3.0]) == 0.0


def test_acceptance_sentence_reads_below_at_and_above_the_target():
    assert "below the 30%" in study.acceptance_sentence([0.05, 0.06, 0.04])
    assert "not told apart from the 30%" in study.acceptance_sentence([0.1, 0.5, 0.3])
    assert "above the 30%" in study.acceptance_sentence([0.60, 0.62, 0.61])


def test_robustness_sentence_names_the_largest_loss_and_gain():
    robust = pd.DataFrame({"method": ["A", "B"], "best distance": [10.0, 5.0], "perturbed: min": [2.0, 4.5],
                           "perturbed: max": [10.0, 6.0]})
    assert study.robustness_sentence(robust) == ("a single perturbed copy loses up to 8.00 m (A) "
                                                 "and one gains up to 1.00 m (B)")
    assert "gains" not in study.robustness_sentence(robust.assign(**{"perturbed: max": [9.0, 5.0]}))

import math

import numpy as np
import pandas as pd
import pytest

from probgen.trueskill import evaluation


def test_calibration_bins_counts_and_frequencies_by_hand():
    p = [0.05, 0.15, 0.12, 0.2, 0.55, 0.58, 0.95, 1.0]
    y = [0, 0, 1, 1, 1, 0, 1, 1]
    table = evaluation.calibration_table(p, y, n_bins=5)
    # bins [0, .2) [.2, .4) [.4, .6) [.6, .8) [.8, 1]: 0.2 opens the second bin, 1.0 closes the last, two are empty
    assert table["lower"].tolist() == pytest.approx([0.0, 0.2, 0.4, 0.8])
    assert table["n"].tolist() == [3, 1, 2, 2]
    assert table["events"].tolist() == [1, 1, 1, 2]
    assert table["frequency"].tolist() == pytest.approx([1 / 3, 1.0, 0.5, 1.0])
    assert table["mean_p"].tolist() == pytest.approx([(0.05 + 0.15 + 0.12) / 3, 0.2, 0.565, 0.975])
    assert (table["freq_lo"] <= table["frequency"]).all() and (table["frequency"] <= table["freq_hi"]).all()


def test_wilson_interval_closed_forms():
    z = 1.959963984540054
    # no events: the interval is [0, z^2 / (n + z^2)]
    assert evaluation.wilson_interval(0, 10, z) == pytest.approx((0.0, z**2 / (10 + z**2)), abs=1e-15)
    # symmetric around 1/2 for half the events
    lo, hi = evaluation.wilson_interval(5, 10, z)
    assert lo + hi == pytest.approx(1.0) and hi - lo == pytest.approx(2 * z / (1 + z**2 / 10) * math.sqrt(
        0.25 / 10 + z**2 / 400))
    with pytest.raises(ValueError, match="0 <= events <= n"):
        evaluation.wilson_interval(3, 2, z)


def test_calibration_of_a_calibrated_simulation_covers_the_diagonal():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20_000)
    y = (rng.uniform(0, 1, p.shape) < p).astype(int)
    table = evaluation.calibration_table(p, y, n_bins=10)
    assert table["n"].sum() == len(p)
    # ten independent bins at 95%: at least 7 contain the truth with probability > 0.999
    assert table["contains_mean_p"].sum() >= 7
    # a biased predictor (p shrunk towards 1/2) is caught in the outer bins
    shrunk = evaluation.calibration_table(0.5 + 0.5 * (p - 0.5), y, n_bins=10)
    assert shrunk["contains_mean_p"].sum() <= 4


@pytest.mark.parametrize("p, y, message", [([0.5, 1.2], [0, 1], "probabilities in"), ([0.5], [2], "0/1"),
                                           ([0.5, 0.4], [1], "one length")])
def test_calibration_rejects_bad_input(p, y, message):
    with pytest.raises(ValueError, match=message):
        evaluation.calibration_table(p, y)


def test_calibration_sentence_counts_bins():
    table = pd.DataFrame({"contains_mean_p": [True, False, True]})
    assert "2 of the 3 bins" in evaluation.calibration_sentence(table)
    assert "every one of the 2 bins" in evaluation.calibration_sentence(table.iloc[[0, 2]])


def _pred(outcome, p1, pdraw, p2):
    return pd.DataFrame({"outcome": outcome, "p_win1": p1, "p_draw": pdraw, "p_win2": p2})


def test_per_match_scores_by_hand():
    pred = _pred([1, 0, -1, -1], [0.6, 0.3, 0.5, 0.2], [0.1, 0.4, 0.1, 0.1], [0.3, 0.3, 0.4, 0.7])
    np.testing.assert_allclose(evaluation.log_prob_observed(pred, three_way=True),
                               np.log([0.6, 0.4, 0.4, 0.7]), rtol=1e-15)
    np.testing.assert_allclose(evaluation.log_prob_observed(pred, three_way=False),
                               np.log([0.6 / 0.9, 0.4 / 0.9, 0.7 / 0.9]), rtol=1e-15)
    p, won = evaluation.decisive_win_probability(pred)
    np.testing.assert_allclose(p, [0.6 / 0.9, 0.5 / 0.9, 0.2 / 0.9], rtol=1e-15)
    assert won.tolist() == [1, 0, 0]
    # match 3: p_win1 0.5 >= p_win2 0.4, so player 1 is predicted and the prediction is wrong
    assert evaluation.correct_winner(pred).tolist() == [1.0, 0.0, 1.0]


def test_paired_difference_and_its_sentences():
    a = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    b = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    cmp = evaluation.paired_difference(a, b, names=("A", "B"), quantity="accuracy")
    d = a - b
    assert cmp.diff == pytest.approx(d.mean()) and cmp.se_diff == pytest.approx(d.std(ddof=1) / math.sqrt(6))
    # 0/1 hits: the Agresti–Caffo binomial standard error of probgen.stats, p~ = (5 + 1) / (6 + 2)
    assert cmp.se_a == pytest.approx(math.sqrt(0.75 * 0.25 / 8))
    assert not cmp.resolved and "cannot be told apart" in cmp.sentence() and "N = 6" in cmp.sentence()
    clear = evaluation.paired_difference(b + 0.5 + 0.01 * np.arange(6), b, names=("A", "B"), quantity="score")
    # not 0/1 scores: the standard error of the mean
    assert clear.se_a == pytest.approx(np.std(b + 0.5 + 0.01 * np.arange(6), ddof=1) / math.sqrt(6))
    assert clear.resolved and clear.sentence().startswith("A is better than B in score by 0.525 ± ")
    flipped = evaluation.paired_difference(b, b + 0.5 + 0.01 * np.arange(6), names=("A", "B"), quantity="score")
    assert flipped.sentence().startswith("B is better than A in score")
    # the wording is the book's one wording (reporting.compare), with the paired difference's error
    assert clear.verdict().difference.se == pytest.approx(clear.se_diff)
    with pytest.raises(ValueError, match="same matches"):
        evaluation.paired_difference(a, b[:3], names=("A", "B"), quantity="accuracy")


def test_compare_predictions_needs_the_same_matches():
    pred = _pred([1, 0, -1], [0.6, 0.3, 0.5], [0.1, 0.4, 0.1], [0.3, 0.3, 0.4])
    out = evaluation.compare_predictions(pred, pred, names=("A", "B"))
    assert out["log_lik"].diff == 0.0 and out["accuracy"].n == 2
    other = pred.assign(outcome=[1, 1, -1])
    with pytest.raises(ValueError, match="not of the same matches"):
        evaluation.compare_predictions(pred, other, names=("A", "B"))

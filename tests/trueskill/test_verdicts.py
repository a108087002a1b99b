"""The TrueSkill chapter's computed sentences: they follow made-up results one way, the other way, and to a tie."""

import math

import numpy as np
import pandas as pd
import pytest

from probgen.trueskill import Gaussian, evaluation, verdicts


def _pred(outcome, p1):
    p1 = np.asarray(p1, dtype=float)
    return pd.DataFrame({"outcome": outcome, "p_win1": p1, "p_draw": 0.0, "p_win2": 1 - p1,
                         "n_prev1": 1, "n_prev2": 1})


def test_accuracy_sentences_flip_with_the_results():
    n = 400
    home_won = np.tile([1, 1, 1, -1], n // 4)  # the home team wins 75 %
    # a model that always picks the home team ties "home always wins" exactly
    tie = verdicts.accuracy_sentences(_pred(home_won, np.full(n, 0.6)), model="M")
    assert 'M and "the home team always wins" cannot be told apart' in tie["vs_home"]
    assert tie["vs_random"].startswith("M is better than random guessing in accuracy by 0.250")
    # a model that always picks the away team: worse than both
    away = verdicts.accuracy_sentences(_pred(home_won, np.full(n, 0.4)), model="M")
    assert away["vs_home"].startswith('"the home team always wins" is better than M')
    assert away["vs_random"].startswith("random guessing is better than M")
    # a model that is always right: better than home-always, by the away wins it gets
    perfect = verdicts.accuracy_sentences(_pred(home_won, np.where(home_won == 1, 0.9, 0.1)), model="M")
    assert perfect["vs_home"].startswith('M is better than "the home team always wins" in accuracy by 0.250')


def test_accuracy_carries_a_binomial_error():
    est = evaluation.accuracy(_pred([1, 1, -1, -1, 0], [0.7, 0.2, 0.3, 0.8, 0.5]))
    assert est.value == 0.5  # 2 of the 4 decisive matches
    assert est.se == pytest.approx(math.sqrt(0.5 * 0.5 / 6))


def test_largest_z_sentence_separates_noise_from_a_wrong_closed_form():
    assert verdicts.largest_z_sentence([0.3, -1.1, 1.5, 0.2]).startswith("which is what Monte Carlo noise gives")
    assert verdicts.largest_z_sentence([0.3, -6.0, 1.5, 0.2]).startswith("more than Monte Carlo noise explains")


def test_burn_in_sentence_says_when_the_burn_in_is_too_short():
    assert "10 more than that" in verdicts.burn_in_sentence(50, 40, 1000)
    assert "should be raised" in verdicts.burn_in_sentence(50, 80, 1000)


def test_effective_sample_size_of_independent_and_of_ar1_chains():
    rng = np.random.default_rng(0)
    iid = rng.standard_normal(20_000)
    assert verdicts.effective_sample_size(iid) == pytest.approx(20_000, rel=0.1)
    rho, x = 0.8, np.zeros(20_000)
    for i in range(1, len(x)):
        x[i] = rho * x[i - 1] + rng.standard_normal()
    # AR(1): n (1 − ρ) / (1 + ρ) = n / 9
    assert verdicts.effective_sample_size(x) == pytest.approx(20_000 / 9, rel=0.2)


def test_one_match_agreement_flips_when_the_samples_move():
    rng = np.random.default_rng(1)
    exact = {"s1": Gaussian(29.0, 49.0), "s2": Gaussian(21.0, 49.0)}
    samples = {k: g.mean + g.std * rng.standard_normal(5000) for k, g in exact.items()}
    text, table = verdicts.one_match_agreement(samples, exact)
    assert text.startswith("the two agree within the Monte Carlo error") and len(table) == 4
    shifted = {"s1": samples["s1"] + 1.0, "s2": samples["s2"]}  # 1 skill point = 10 Monte Carlo errors
    text, _ = verdicts.one_match_agreement(shifted, exact)
    assert text.startswith("the two differ beyond the Monte Carlo error in the mean of s1")
    assert "s2" not in text


def _ranking(order, means, std=1.0):
    return pd.DataFrame({"player": order, "mean": means, "std": std})


def test_rank_and_table_sentences_follow_the_orders():
    teams = ["A", "B", "C", "D", "E"]
    same = verdicts.adf_variants_sentence(_ranking(teams, [5, 4, 3, 2, 1]), _ranking(teams, [5.1, 4, 3, 2, 1]))
    assert "rank all 5 players in the same order" in same and "0.10 skill points (A)" in same
    swapped = verdicts.adf_variants_sentence(_ranking(teams, [5, 4, 3, 2, 1]),
                                             _ranking(["B", "A", "C", "D", "E"], [5, 4.5, 3, 2, 1]))
    assert "put 3 of the 5 players at the same place" in swapped
    matches = pd.DataFrame({"player1": ["A", "B", "C", "A"], "player2": ["B", "C", "A", "C"],
                            "score1": [2, 1, 0, 1], "score2": [0, 1, 3, 1], "outcome": [1, 0, -1, 0]})
    points = verdicts.points_table(matches)
    assert points["team"].tolist() == ["A", "C", "B"] and points["points"].tolist() == [7, 2, 1]
    assert "2 of them the same" not in verdicts.final_table_sentence(["A", "C", "B"], points, k=2)
    assert "the same teams" in verdicts.final_table_sentence(["A", "C", "B"], points, k=2)
    assert "none of them the same" in verdicts.final_table_sentence(["B", "A", "C"], points, k=1)


def test_shuffle_sentences_count_the_orders_that_change_the_ranking():
    chrono = _ranking(["A", "B", "C"], [3.0, 2.0, 1.0])
    stable = pd.DataFrame({"shuffle": [0, 0, 0, 1, 1, 1], "player": ["A", "B", "C"] * 2,
                           "mean": [3.0, 2.0, 1.0, 3.1, 2.1, 1.1]})
    text = verdicts.shuffle_sentence(stable, chrono)
    assert "every one of the 2 random orders gives the chronological ranking" in text
    assert "although none of the 2 random orders" in verdicts.order_dependence_sentence(stable, chrono)
    moved = stable.assign(mean=[3.0, 2.0, 1.0, 1.0, 2.1, 3.1])
    assert "in 1 of the 2 random orders the ranking differs" in verdicts.shuffle_sentence(moved, chrono)
    assert "changed in 1 of 2 random orders" in verdicts.order_dependence_sentence(moved, chrono)

import pandas as pd
import pytest

from probgen.runtime import ConfigError
from probgen.trueskill import Gaussian, adf, evaluation, study


def test_config_profiles_and_errors():
    assert study.TrueSkillConfig.for_profile("quick").gibbs_samples > study.TrueSkillConfig.for_profile("smoke").gibbs_samples
    with pytest.raises(ConfigError, match="unknown parameter"):
        study.TrueSkillConfig.for_profile("smoke", samples=3)
    with pytest.raises(ConfigError, match="perf_var"):
        study.TrueSkillConfig.for_profile("smoke", perf_var=0.0)


def test_closed_forms_pass_their_own_monte_carlo_check():
    p = Gaussian(25.0, (25 / 3) ** 2)
    table = study.validate_conditionals(p, Gaussian(22.0, 40.0), (25 / 6) ** 2, n=400_000, seed=0)
    assert (table["z"].abs() < 5).all(), table


def test_prediction_scores():
    pred = pd.DataFrame({"outcome": [1, -1, 0, 1], "p_win1": [0.7, 0.6, 0.3, 0.5], "p_draw": [0.1, 0.1, 0.5, 0.0],
                         "p_win2": [0.2, 0.3, 0.2, 0.5]})
    scores = study.prediction_scores(pred)
    assert scores["accuracy"] == pytest.approx(2 / 3)  # match 2 missed; tie in match 4 goes to player 1
    assert scores["accuracy_3way"] == pytest.approx(3 / 4)


def _toy_games():
    return pd.DataFrame({"player1": list("ABCA") * 5, "player2": list("BCAC") * 5, "outcome": [1, 0, -1, 1] * 5})


def test_extensions_table_has_every_model():
    cfg = study.TrueSkillConfig.for_profile("smoke")
    table = study.evaluate_extensions(_toy_games(), cfg)
    assert table.model.tolist() == list(study.EXTENSIONS)  # no margin column: no margin model
    assert table.loc[table.model == "base", "h"].item() == 0.0


def test_margin_model_is_fitted_with_the_reference_advantage_and_compared_on_the_same_matches():
    games = _toy_games().assign(margin=[2, 0, -1, 3] * 5)
    cfg = study.TrueSkillConfig.for_profile("smoke")
    fitted = study.fit_extensions(games, cfg, margin_cap=3)
    margin = fitted[study.MARGIN_MODEL]
    assert margin.h == fitted[study.MARGIN_REFERENCE].h
    assert margin.margin_width in cfg.margin_width_grid and margin.epsilon == margin.margin_width / 2
    # the chosen width maximises the first half's three-way predictive log-likelihood
    first = games.iloc[:10]
    lls = [evaluation.log_prob_observed(
        adf(first, margin_width=w, margin_cap=3, skip_draws=False, advantage=margin.h,
            prior_mean=cfg.prior_mean, prior_var=cfg.prior_var, perf_var=cfg.perf_var).predictions,
        three_way=True).mean() for w in cfg.margin_width_grid]
    assert margin.log_lik_first == pytest.approx(max(lls), rel=1e-12)
    table, comparisons = study.margin_comparison(fitted, "toy")
    assert table["scored on"].tolist() == ["second half"] * 2 + ["whole sequence"] * 2
    assert table["N"].tolist() == [8, 10, 15, 20]  # decisive matches for the accuracy: 2 and 5 draws
    acc = comparisons[("second half", "accuracy")]
    assert table["difference"].iloc[0] == f"{acc.diff:+.3f} ± {acc.se_diff:.3f}"
    assert comparisons[("whole sequence", "log_lik")].n == 20
    with pytest.raises(ValueError, match="needs a 'margin' column|no 'home advantage \\+ margin'"):
        study.margin_comparison(study.fit_extensions(_toy_games(), cfg), "toy")


def test_chess_margin_proxy():
    games = pd.DataFrame({"outcome": [1, -1, 0, 1, -1], "turns": [20, 20, 30, 80, 90]})
    assert study.chess_margin_proxy(games, short_turns=50).tolist() == [2, -2, 0, 1, -1]
    with pytest.raises(ValueError, match="lack column"):
        study.chess_margin_proxy(games.drop(columns="turns"), 50)

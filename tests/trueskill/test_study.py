import pandas as pd
import pytest

from probgen.runtime import ConfigError
from probgen.trueskill import Gaussian, study


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


def test_extensions_table_has_every_model():
    games = pd.DataFrame({"player1": list("ABCA") * 5, "player2": list("BCAC") * 5, "outcome": [1, 0, -1, 1] * 5})
    cfg = study.TrueSkillConfig.for_profile("smoke")
    table = study.evaluate_extensions(games, cfg)
    assert table.model.tolist() == list(study.EXTENSIONS)
    assert table.loc[table.model == "base", "h"].item() == 0.0

import pandas as pd
import pytest

from probgen.trueskill import adf


def _matches(rows):
    return pd.DataFrame(rows, columns=["player1", "player2", "outcome"])


def test_three_player_toy_ranks_by_results():
    games = _matches([("A", "B", 1), ("B", "C", 1), ("A", "C", 1)] * 4)
    for method in ("moment_matching", "gibbs"):
        res = adf(games, method=method, n_samples=500, seed=1)
        assert res.ranking_table().player.tolist() == ["A", "B", "C"]
        assert res.predictions.p_win1.iloc[0] == pytest.approx(0.5)  # predicted from the prior
        assert res.n_matches == {"A": 8, "B": 8, "C": 8}
        assert res.predictions.n_prev1.tolist()[:4] == [0, 1, 1, 2]


def test_prediction_never_sees_its_own_match():
    base = _matches([("A", "B", 1), ("B", "C", -1), ("C", "A", 1), ("A", "B", -1)])
    flipped = base.copy()
    flipped.loc[2, "outcome"] = -1
    a, b = adf(base).predictions, adf(flipped).predictions
    assert a.p_win1.iloc[:3].tolist() == b.p_win1.iloc[:3].tolist()  # up to and including match 2
    assert a.p_win1.iloc[3] != b.p_win1.iloc[3]


def test_draws_are_skipped_in_the_base_model_and_used_with_a_margin():
    games = _matches([("A", "B", 0), ("A", "B", 1)])
    base = adf(games)
    assert base.predictions.p_win1.iloc[1] == pytest.approx(0.5)  # the draw did not update
    with_draws = adf(games, draw_margin=1.0, skip_draws=False)
    assert with_draws.ratings["A"].var < base.ratings["A"].var
    assert with_draws.predictions.p_draw.iloc[0] > 0
    assert base.accuracy() == 1.0  # one decisive match, predicted by the tie rule (home team)


def test_home_advantage_favours_player1():
    res = adf(_matches([("A", "B", 1)]), advantage=2.0)
    assert res.predictions.p_win1.iloc[0] > 0.5


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="ep"), "method='ep' is not allowed"),
    (dict(skip_draws=False), "needs a draw model"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adf(_matches([("A", "B", 1)]), **kwargs)


def test_bad_frames():
    with pytest.raises(ValueError, match="lacks column"):
        adf(pd.DataFrame({"player1": ["A"], "player2": ["B"]}))
    with pytest.raises(ValueError, match="outcome must be"):
        adf(_matches([("A", "B", 2)]))
    with pytest.raises(ValueError, match="cannot play themself"):
        adf(_matches([("A", "A", 1)]))

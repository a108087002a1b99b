import pandas as pd
import pytest

from probgen.data import matches


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


SERIE = """yyyy-mm-dd,HH:MM,team1,team2,score1,score2
2018-08-19,18:00,Torino,Roma,0,1
2018-08-18,18:00,Chievo,Juventus,2,3
2018-08-18,20:30,Lazio,Napoli,1,1
"""


def test_serie_a_outcomes_margins_and_order(tmp_path):
    df = matches.load_serie_a(_write(tmp_path, "s.csv", SERIE))
    assert df["player1"].tolist() == ["Chievo", "Lazio", "Torino"]  # chronological
    assert df["outcome"].tolist() == [-1, 0, -1] and df["margin"].tolist() == [-1, 0, -1]


@pytest.mark.parametrize("row, why", [
    ("2018-08-20,18:00,Torino,Roma,zero,1", "cannot parse"),
    ("2018-08-20,18:00,Torino,Torino,1,1", "team names must be two different"),
    ("2018-08-20,18:00,Torino,Roma,-1,1", "negative score"),
])
def test_serie_a_malformed_rows_name_the_line(tmp_path, row, why):
    p = _write(tmp_path, "s.csv", SERIE + row + "\n")
    with pytest.raises(matches.MalformedDataError, match=f"line 5: {why}"):
        matches.load_serie_a(p)


def test_serie_a_missing_column(tmp_path):
    p = _write(tmp_path, "s.csv", "date,team1,team2\n2018-01-01,A,B\n")
    with pytest.raises(matches.MalformedDataError, match="lacks column"):
        matches.load_serie_a(p)


CHESS_HEADER = ("id,rated,created_at,last_move_at,turns,victory_status,winner,increment_code,"
                "white_id,white_rating,black_id,black_rating,moves,opening_eco,opening_name,opening_ply\n")


def _game(gid, rated, created, winner, white, black, turns=20):
    return f"{gid},{rated},{created},{created},{turns},resign,{winner},10+0,{white},1500,{black},1400,e4 e5,C20,KP,2\n"


def test_chess_rated_spellings_duplicates_and_order(tmp_path):
    text = CHESS_HEADER + "".join([
        _game("g3", "TRUE", "1.50421E+12", "white", "a", "b"),   # newest first in the file
        _game("g2", "True", "1.50421E+12", "draw", "b", "c"),    # same rounded time: file order reversed
        _game("g1", "false", "1504100000000", "black", "c", "a"),
        _game("g1", "false", "1504100000000", "black", "c", "a"),  # exact duplicate id
        _game("g0", "FALSE", "1.4E+12", "white", "a", "c"),
    ])
    df = matches.load_chess(_write(tmp_path, "c.csv", text))
    assert df["id"].tolist() == ["g0", "g1", "g2", "g3"]
    assert df["rated"].tolist() == [False, False, True, True]
    assert df["outcome"].tolist() == [1, -1, 0, 1]


def test_chess_bad_winner(tmp_path):
    p = _write(tmp_path, "c.csv", CHESS_HEADER + _game("g", "TRUE", "1", "nobody", "a", "b"))
    with pytest.raises(matches.MalformedDataError, match="'winner' must be white/black/draw"):
        matches.load_chess(p)


def test_chess_bad_rated(tmp_path):
    p = _write(tmp_path, "c.csv", CHESS_HEADER + _game("g", "yes", "1", "white", "a", "b"))
    with pytest.raises(matches.MalformedDataError, match="line 2: 'rated'"):
        matches.load_chess(p)


def test_filter_chess_keeps_regular_rated_players():
    rows = [("a", "b", True, 30)] * 3 + [("a", "c", True, 30)] + [("a", "b", False, 30)] + [("a", "a", True, 30)]
    df = pd.DataFrame(rows, columns=["player1", "player2", "rated", "turns"])
    out = matches.filter_chess(df, min_games=3)
    assert len(out) == 3 and set(out["player2"]) == {"b"}

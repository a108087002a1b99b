"""Match data for the TrueSkill chapter: Serie A 2018/19 and Lichess games.

Both loaders return a pandas DataFrame in chronological order with the columns
the rating code needs: `player1` (home team / White), `player2`, `outcome`
(+1 player1 won, -1 player2 won, 0 draw), plus data-set specific columns.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pandas as pd

from . import files

SERIE_A = "trueskill/SerieA.csv"
CHESS = "trueskill/chess_games.csv"
SERIE_A_COLUMNS = ["yyyy-mm-dd", "HH:MM", "team1", "team2", "score1", "score2"]
CHESS_REQUIRED = ["id", "rated", "created_at", "turns", "victory_status", "winner", "increment_code",
                  "white_id", "white_rating", "black_id", "black_rating"]
# `rated` is spelled four ways in the Lichess file.
_RATED = {"true": True, "false": False}
_WINNER = {"white": 1, "black": -1, "draw": 0}


class MalformedDataError(ValueError):
    """A data file has a row that cannot be read; the message gives file, line and row."""


def _read_rows(path, required: list[str]) -> list[tuple[int, dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise MalformedDataError(f"{path}: header {header} lacks column(s) {missing}")
        # line numbers are 1-based and count the header as line 1
        return [(i + 2, row) for i, row in enumerate(reader)]


def _bad(path, line: int, row: dict, why: str) -> MalformedDataError:
    return MalformedDataError(f"{path}, line {line}: {why}; row = {dict(row)}")


def load_serie_a(path: str | os.PathLike | None = None, *, data_dir=None) -> pd.DataFrame:
    """Serie A 2018/19 (380 matches) as a chronological DataFrame.

    Columns: date, player1 (home), player2 (away), score1, score2, margin
    (score1 - score2), outcome (+1 home win, -1 away win, 0 draw).
    """
    path = path if path is not None else files.find(SERIE_A, data_dir)
    records = []
    for line, row in _read_rows(path, SERIE_A_COLUMNS):
        try:
            date = pd.Timestamp(f"{row['yyyy-mm-dd']} {row['HH:MM']}")
            s1, s2 = int(row["score1"]), int(row["score2"])
        except (ValueError, TypeError) as exc:
            raise _bad(path, line, row, f"cannot parse date or scores ({exc})") from None
        if s1 < 0 or s2 < 0:
            raise _bad(path, line, row, "negative score")
        if not row["team1"] or not row["team2"] or row["team1"] == row["team2"]:
            raise _bad(path, line, row, "team names must be two different non-empty names")
        records.append((date, row["team1"], row["team2"], s1, s2))
    df = pd.DataFrame(records, columns=["date", "player1", "player2", "score1", "score2"])
    df["margin"] = df["score1"] - df["score2"]
    df["outcome"] = np.sign(df["margin"]).astype(int)
    # mergesort is stable: matches at the same kick-off keep the file's order
    return df.sort_values("date", kind="mergesort").reset_index(drop=True)


def load_chess(path: str | os.PathLike | None = None, *, data_dir=None) -> pd.DataFrame:
    """Lichess games as a chronological DataFrame (no filtering beyond exact duplicates).

    Columns: id, created_at (ms since epoch; many are rounded to 5 significant
    digits in the file, so order within a rounding bucket is the file's,
    reversed, as the file lists newest first), rated (bool; the file spells it
    four ways), turns, victory_status, increment_code, player1 (White),
    player2 (Black), rating1, rating2, outcome (+1 White won, -1 Black won, 0 draw).
    Rows repeating an earlier game id are dropped (the file has 945 of them).
    """
    path = path if path is not None else files.find(CHESS, data_dir)
    records = []
    for line, row in _read_rows(path, CHESS_REQUIRED):
        rated = _RATED.get(str(row["rated"]).strip().lower())
        if rated is None:
            raise _bad(path, line, row, f"'rated' must be true/false (any case), got {row['rated']!r}")
        outcome = _WINNER.get(str(row["winner"]).strip().lower())
        if outcome is None:
            raise _bad(path, line, row, f"'winner' must be white/black/draw, got {row['winner']!r}")
        try:
            created = float(row["created_at"])
            turns = int(row["turns"])
            r1, r2 = int(row["white_rating"]), int(row["black_rating"])
        except (ValueError, TypeError) as exc:
            raise _bad(path, line, row, f"cannot parse a number ({exc})") from None
        if not row["white_id"] or not row["black_id"]:
            raise _bad(path, line, row, "empty player id")
        records.append((row["id"], created, rated, turns, row["victory_status"], row["increment_code"],
                        row["white_id"], row["black_id"], r1, r2, outcome))
    df = pd.DataFrame(records, columns=["id", "created_at", "rated", "turns", "victory_status", "increment_code",
                                        "player1", "player2", "rating1", "rating2", "outcome"])
    df = df.drop_duplicates(subset="id", keep="first")
    # The file is newest-first; reverse it, then a stable sort keeps that order within equal (rounded) times.
    df = df.iloc[::-1].sort_values("created_at", kind="mergesort").reset_index(drop=True)
    return df


def filter_chess(df: pd.DataFrame, *, rated_only: bool = True, min_games: int = 10, min_turns: int = 2,
                 drop_self_play: bool = True) -> pd.DataFrame:
    """The chapter's filtering: rated games with at least `min_turns` moves between two
    different players, keeping only games whose both players have at least `min_games`
    such games (one pass; the counts are taken after the other filters)."""
    keep = pd.Series(True, index=df.index)
    if rated_only:
        keep &= df["rated"]
    if drop_self_play:
        keep &= df["player1"] != df["player2"]
    keep &= df["turns"] >= min_turns
    sub = df[keep]
    counts = pd.concat([sub["player1"], sub["player2"]]).value_counts()
    regular = set(counts[counts >= min_games].index)
    sub = sub[sub["player1"].isin(regular) & sub["player2"].isin(regular)]
    return sub.reset_index(drop=True)

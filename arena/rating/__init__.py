"""Rating engine: Bradley-Terry on pair counts with bootstrap intervals, online Elo, style control.

Pure numpy/scipy/pandas; knows nothing about HTTP or judges.
"""

from arena.rating.io import load_battles, validate_battles
from arena.rating.leaderboard import RatingResult, rank_by_ci, rate_all, rate_battles
from arena.rating.options import RatingOptions, parse_anchor
from arena.rating.report import format_table, result_to_dict, write_leaderboard

__all__ = [
    "RatingOptions",
    "RatingResult",
    "format_table",
    "load_battles",
    "parse_anchor",
    "rank_by_ci",
    "rate_all",
    "rate_battles",
    "result_to_dict",
    "validate_battles",
    "write_leaderboard",
]

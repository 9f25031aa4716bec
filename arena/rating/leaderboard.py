"""Leaderboards: BT or Elo ratings with bootstrap intervals, CI-separated ranks, tallies and win-rate matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from arena.errors import ArenaError
from arena.rating.bootstrap import bootstrap_bt, percentile_interval
from arena.rating.bt import fit_point, normalise, win_probability
from arena.rating.clusters import QuestionClusters, question_clusters
from arena.rating.counts import (
    PairCounts,
    aggregate_indexed,
    encode_models,
    mean_lengths,
    model_tallies,
    observed_win_rate,
    self_battle_warning,
)
from arena.rating.diagnostics import diagnose, graph_groups, mle_exists, rated_groups, weightless_models
from arena.rating.elo import bootstrap_elo, online_elo
from arena.rating.io import TIME_COLUMN
from arena.rating.names import names_shown
from arena.rating.options import RatingOptions
from arena.rating.style import confounded_features, style_control, style_features


@dataclass
class RatingResult:
    """One leaderboard: the table (best first), predicted win-rate matrix, style coefficients, warnings."""

    table: pd.DataFrame
    winrate: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    style: pd.DataFrame | None = None
    n_battles: int = 0
    category: str | None = None
    resampling: str = ""  # how intervals were bootstrapped, e.g. "1000 bootstrap rounds resampling battles"
    bootstrap_by: str | None = None  # the resampled unit ("battle" / "question"), None without bootstrap
    groups: int = 1  # connected groups of the comparison graph (ranks count within a group)


ABSENT_NOTE = "undefined: the model is absent from every bootstrap round"  # no round could rate it
WEIGHTLESS_NOTE = "undefined: every battle of the model weighs 0, so nothing rates it"
SAME_RESAMPLE_NOTE = "undefined: every bootstrap round drew the same resample"  # one round: the settings, not the data
UNPLACED_NOTES = (ABSENT_NOTE, WEIGHTLESS_NOTE)  # listed last, rank shown as '-', never the top model


def _median_or(draws: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Per-model median over the rounds in which the model played; the single pass where it never did."""
    if not len(draws):
        return point
    finite = np.isfinite(draws)
    med = np.array([np.median(draws[finite[:, k], k]) if finite[:, k].any() else np.nan
                    for k in range(draws.shape[1])])
    return np.where(np.isfinite(med), med, point)


def rank_by_ci(ci_low: np.ndarray, ci_high: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Rank = 1 + number of models whose lower bound is above this model's upper bound.

    A model without an interval (NaN bounds) is separated from no model, and no model from it. With `groups`
    (the comparison graph's connected groups), only models of the same group count: ratings of groups that
    never met are not comparable, so no model is ranked below another group's.
    """
    low, high = np.asarray(ci_low, float), np.asarray(ci_high, float)
    above = low[None, :] > high[:, None]
    if groups is not None:
        above &= np.asarray(groups)[None, :] == np.asarray(groups)[:, None]
    return 1 + above.sum(axis=1)


def prepare(battles: pd.DataFrame, category: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Filter to a category and drop self-battles; returns the battles and warnings."""
    if hasattr(battles, "prepare"):  # a streamed BattleSummary (arena.rating.summary)
        return battles.prepare(category)
    warnings: list[str] = []
    if category is not None:
        battles = battles[battles["category"] == category]
        if battles.empty:
            raise ArenaError(f"no battles in category {category!r}")
    same = (battles["model_a"] == battles["model_b"]).to_numpy()
    if same.any():
        warnings.append(self_battle_warning(battles.loc[same, "model_a"].value_counts(sort=False)))
        battles = battles[~same]
    if battles.empty:
        raise ArenaError("no battles between two different models")
    return battles.reset_index(drop=True), warnings


def _normalisation(
    models: list[str], options: RatingOptions, strict: bool, warnings: list[str]
) -> tuple[tuple[str, float] | None, str | None]:
    """Anchor and baseline that exist among the models (missing ones raise when strict, else warn)."""
    anchor, baseline = options.anchor, options.baseline
    for name, kind in ((anchor[0] if anchor else None, "anchor"), (baseline, "baseline")):
        if name is not None and name not in models:
            message = f"{kind} model {name!r} has no battles here"
            if strict:
                raise ArenaError(message, hint=f"known models: {', '.join(models[:20])}")
            warnings.append(message + f"; ratings are centred on {options.init:g} instead")
            anchor, baseline = (None, baseline) if kind == "anchor" else (anchor, None)
    return anchor, baseline


def _fit_bt(
    battles: pd.DataFrame,
    counts: PairCounts,
    options: RatingOptions,
    warnings: list[str],
    clusters: QuestionClusters | None = None,
    cells: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
    """Point strengths, bootstrap strength draws (R, M) with NaN for absent models, and style results."""
    if options.style_control:
        return _fit_style(battles, counts, options, warnings, clusters)
    s, n = counts.pair_stats()
    m = counts.n_models
    alpha = 0.0 if mle_exists(m, counts.pair_i, counts.pair_j, s, n) else options.prior_weight
    theta = fit_point(counts.pair_i, counts.pair_j, s, n, m, alpha)
    if options.bootstrap == 0:
        return theta, np.zeros((0, m)), None
    matrix = None
    if clusters is not None and cells is not None:
        matrix = clusters.cell_matrix(cells, len(counts.cell_count))
    draws = bootstrap_bt(counts, theta, options.bootstrap, options.seed, options.prior_weight, matrix)
    if draws.prior_rounds.any():
        warnings.append(
            f"{int(draws.prior_rounds.sum())} of {draws.n_rounds} bootstrap rounds had no maximum-likelihood "
            "estimate (a model or group that only won or only lost, or groups of models that never met); they "
            "were refitted with the weak prior"
        )
    return theta, np.where(draws.active, draws.theta, np.nan), None


def _fit_style(
    battles: pd.DataFrame,
    counts: PairCounts,
    options: RatingOptions,
    warnings: list[str],
    clusters: QuestionClusters | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Style-controlled strengths and their draws, plus the coefficient table."""
    x, names, notes = style_features(battles)
    warnings.extend(notes)
    _, a, b = encode_models(battles)
    weight = battles["weight"].to_numpy(float)
    warnings.extend(confounded_features(a, b, x, weight, counts.n_models, names))
    fit = style_control(
        a,
        b,
        x,
        names,
        battles["score"].to_numpy(float),
        weight,
        counts.n_models,
        options.bootstrap,
        options.seed,
        options.prior_weight,
        None if clusters is None else clusters.of_battle,
    )
    m = counts.n_models
    coef = pd.DataFrame({"feature": names, "coefficient": fit.beta})
    if options.bootstrap:
        low, high = percentile_interval(fit.draws[:, m:], options.percentiles)
        coef["ci_low"], coef["ci_high"] = low, high
    return fit.theta, fit.draws[:, :m], coef


def _fit_elo(
    battles: pd.DataFrame, counts: PairCounts, options: RatingOptions, anchor: tuple[str, float] | None,
    baseline: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Online Elo in the battles' order and bootstrap rounds (R, M), both in rating points and shifted to the
    anchor or baseline. The order is time order (stable) when every battle has a tstamp, as FastChat sorts
    battles by it, else file order. The in-order pass only stands in for a model with no rating in any round
    (_median_or), so it is NaN (not computed) when every model has one."""
    battles = in_time_order(battles)
    _, a, b = encode_models(battles)
    s, w = battles["score"].to_numpy(float), battles["weight"].to_numpy(float)
    if len(w) and options.elo_k * float(w.max()) >= options.scale:  # one battle would move a rating by a whole scale
        raise ArenaError(
            f"Elo scales K by a battle's weight: the largest weight, {float(w.max()):g}, times K={options.elo_k:g} "
            f"is not below the scale {options.scale:g}, so one battle would swing the ratings without bound",
            hint="rate weighted battles with --method bt (weights are counts there), or rescale the weights")
    kw = {"k": options.elo_k, "scale": options.scale, "base": options.base, "init": options.init}
    shift = lambda r: _shift(r, counts.models, anchor, baseline, options.init)
    draws = shift(
        bootstrap_elo(a, b, s, w, counts.n_models, options.bootstrap, options.seed, **kw)
        if options.bootstrap
        else np.zeros((0, counts.n_models))
    )
    if len(draws) and np.isfinite(draws).any(axis=0).all():
        return np.full(counts.n_models, np.nan), draws
    return shift(online_elo(a, b, s, w, counts.n_models, **kw)), draws


def in_time_order(battles: pd.DataFrame) -> pd.DataFrame:
    """The battles sorted by tstamp (stable: file order among equal times) when every battle has one, else as
    they are: the order online Elo plays them in."""
    times = battles[TIME_COLUMN].to_numpy(float) if TIME_COLUMN in battles else None
    if times is None or not len(times) or np.isnan(times).any() or (np.diff(times) >= 0).all():
        return battles
    return battles.iloc[np.argsort(times, kind="stable")].reset_index(drop=True)


def time_order_note(battles: pd.DataFrame) -> str | None:
    """Why online Elo plays the battles in file order although some carry a time: how many have no usable
    tstamp (missing, not a number, or a number written as JSON text); None when all or none have one."""
    if TIME_COLUMN not in battles or not len(battles):
        return None
    lacking = int(np.isnan(battles[TIME_COLUMN].to_numpy(float)).sum())
    if lacking == 0 or lacking == len(battles):
        return None
    return (f"{lacking} of {len(battles)} battles have no usable tstamp (a number of seconds; text such as "
            "\"1700000000\" in JSON is not one): online Elo played all battles in file order, not by time")


def _shift(
    ratings: np.ndarray,
    models: list[str],
    anchor: tuple[str, float] | None,
    baseline: str | None,
    init: float,
) -> np.ndarray:
    """Shift Elo ratings so the anchor (or baseline, at init) sits at its value; unchanged otherwise."""
    if anchor is None and baseline is None:
        return ratings
    name, value = anchor if anchor is not None else (baseline, init)
    r = np.atleast_2d(ratings)
    out = r - r[:, [models.index(name)]] + value
    return out[0] if ratings.ndim == 1 else out


def rate_battles(
    battles: pd.DataFrame, options: RatingOptions, category: str | None = None, strict: bool = True
) -> RatingResult:
    """Rate one set of battles (optionally one category, refitted) into a RatingResult.

    BT: rating = fit on all battles, interval = bootstrap percentiles. Elo: rating = median of the
    bootstrap rounds (the in-order pass when bootstrap is 0). strict=False turns a missing anchor or
    baseline into a warning (used for categories).
    """
    battles, warnings = prepare(battles, category)
    counts, cells = aggregate_indexed(battles)
    clusters = question_clusters(battles) if options.bootstrap_by == "question" and options.bootstrap else None
    if clusters is not None:
        warnings.extend(clusters.warnings())
    models = counts.models
    if len(models) < 2:
        raise ArenaError(f"need battles between at least two models, found {models}")
    s, n = counts.pair_stats()
    all_tie = bool((battles["score"] == 0.5).all())
    warnings.extend(diagnose(counts, s, n, all_tie, options.min_battles_warning, elo=options.method == "elo"))
    anchor, baseline = _normalisation(models, options, strict, warnings)
    style = None
    if options.method == "elo":
        if note := time_order_note(battles):
            warnings.append(note)
        point, draws = _fit_elo(battles, counts, options, anchor, baseline)
        rating = _median_or(draws, point)
    else:
        theta, theta_draws, style = _fit_bt(battles, counts, options, warnings, clusters, cells)
        norm = {"factor": options.factor, "init": options.init, "anchor": anchor, "baseline": baseline}
        rating = normalise(theta, models, **norm)
        draws = (
            normalise(theta_draws, models, active=np.isfinite(theta_draws), **norm)
            if len(theta_draws)
            else theta_draws
        )
    bad = ~np.isfinite(rating)
    if bad.any():
        raise ArenaError(
            f"the {options.method.upper()} fit gave non-finite ratings for {[models[k] for k in np.flatnonzero(bad)][:5]}",
            hint="check the battles' weights (finite, at most 1e12) and scores",
        )
    fixed = anchor[0] if anchor else baseline  # the scale's reference point: zero width by definition
    # every round the same resample: one round, or a question bootstrap over a single question
    one_resample = len(draws) == 1 or (clusters is not None and clusters.n_clusters == 1)
    groups, weightless = graph_groups(counts), weightless_models(counts)
    n_groups = rated_groups(groups, weightless)
    table = _table(battles, models, rating, draws, options, baseline, warnings, fixed, one_resample,
                   groups, weightless, n_groups)
    order = table["model"].tolist()
    r = table.set_index("model")["rating"].to_numpy()
    winrate = pd.DataFrame(
        win_probability(r[:, None], r[None, :], options.scale, options.base), index=order, columns=order
    )
    return RatingResult(
        table, winrate, list(dict.fromkeys(warnings)), style, len(battles), category, _resampling(options, clusters),
        options.bootstrap_by if options.bootstrap else None, n_groups,
    )


def _resampling(options: RatingOptions, clusters: QuestionClusters | None) -> str:
    """How the intervals were obtained, for the leaderboard's header."""
    if not options.bootstrap:
        return "no bootstrap (intervals not computed; ranks by point rating alone)"
    if clusters is None:
        return f"{options.bootstrap} bootstrap rounds resampling battles"
    return f"{options.bootstrap} bootstrap rounds resampling questions ({clusters.describe()})"


def _table(
    battles: pd.DataFrame,
    models: list[str],
    rating: np.ndarray,
    draws: np.ndarray,
    options: RatingOptions,
    baseline: str | None,
    warnings: list[str],
    fixed: str | None = None,
    one_resample: bool = False,
    groups: np.ndarray | None = None,
    weightless: np.ndarray | None = None,
    n_groups: int = 1,
) -> pd.DataFrame:
    """Assemble the leaderboard table, best first; ranks compare models of one connected group only."""
    table = pd.DataFrame({"model": models, "rating": rating})
    if len(draws):
        low, high = percentile_interval(draws, options.percentiles)
        gone = ~np.isfinite(draws)
        if fixed is not None and fixed in models and gone[:, models.index(fixed)].any():
            # a round without the scale's reference point has no place on its scale: every model sits it out
            unplaced = gone[:, models.index(fixed)]
            warnings.append(
                f"the scale's reference model {fixed!r} is absent from {int(unplaced.sum())} of {len(draws)} "
                "bootstrap rounds; those rounds cannot be put on its scale and every interval uses the other rounds")
            gone = gone[~unplaced]
        missing = gone.sum(axis=0)
        absent = np.flatnonzero((missing > 0) & (missing < len(gone)))  # absent from every round: no interval (below)
        if len(absent) == 1:
            warnings.append(
                f"model {models[absent[0]]!r} is absent from {int(missing[absent[0]])} bootstrap rounds; "
                "its interval uses the other rounds"
            )
        elif len(absent):
            absent = absent[np.argsort(-missing[absent], kind="stable")]
            shown = names_shown([f"{models[k]!r} ({int(missing[k])})" for k in absent])
            warnings.append(
                f"{len(absent)} models ({shown}) are absent from some of the {len(draws)} bootstrap rounds "
                "(how many in brackets, most first); their intervals use the other rounds"
            )
    else:  # no bootstrap: no interval, and ranks by the point ratings alone (said in `resampling`)
        low, high = np.full(len(models), np.nan), np.full(len(models), np.nan)
    table["ci_low"], table["ci_high"] = low, high
    note = _degenerate_intervals(table, len(draws), options, fixed, one_resample)
    # low data: few battles, or an interval the data cannot give (not one the settings cannot: a single round)
    thin = note.notna() & ~((len(draws) == 1) & note.str.startswith(SAME_RESAMPLE_NOTE, na=False))
    unrated = np.zeros(len(models), bool) if weightless is None else np.asarray(weightless, bool)
    if unrated.any() and not unrated.all():  # whatever the method, their rating is the starting value
        table.loc[unrated, ["ci_low", "ci_high"]] = np.nan
        note[unrated] = WEIGHTLESS_NOTE
        thin |= unrated
    if len(draws):
        table["rank"] = rank_by_ci(table["ci_low"], table["ci_high"], groups)
    else:
        by = pd.Series(groups if groups is not None else np.zeros(len(models), int))
        point = pd.Series(np.where(unrated, -np.inf, rating))  # ranked after the rated models of the group
        table["rank"] = point.groupby(by).rank(method="min", ascending=False).astype(int).to_numpy()
    if n_groups > 1 and groups is not None:  # which group each model's rank counts in (1 = the largest)
        rated = groups[~unrated]  # a model with only weightless battles forms no group: no number (null / empty)
        order = sorted(set(rated.tolist()), key=lambda g: (-int((rated == g).sum()), g))
        table["group"] = pd.Series([None if off else 1 + order.index(g) for g, off in zip(groups.tolist(), unrated)],
                                   dtype=object)
    table = table.join(model_tallies(battles), on="model")
    table["low_data"] = (table["battles"] < options.low_data_battles) | thin
    table["ci_note"] = note
    for reason, names in table.groupby("ci_note", sort=True)["model"]:
        shown = ", ".join(map(repr, names.tolist()[:10])) + (" ..." if len(names) > 10 else "")
        warnings.append(f"interval of {shown} {reason.replace('undefined:', 'undefined (no ci_low/ci_high):', 1)}")
    few = table.loc[table["battles"] < options.low_data_battles, "model"].tolist()
    if few:
        warnings.append(
            f"{len(few)} model(s) have fewer than {options.low_data_battles} battles and are flagged low_data: "
            + ", ".join(map(repr, few[:10])) + (" ..." if len(few) > 10 else "")
        )
    if baseline is not None:
        ib = models.index(baseline)
        to_score = lambda r, rb: 100.0 * win_probability(r, rb, options.scale, options.base)
        table["score"] = to_score(rating, rating[ib])
        if len(draws):
            table["score_ci_low"], table["score_ci_high"] = percentile_interval(
                to_score(draws, draws[:, [ib]]), options.percentiles
            )
        table["observed_win_rate"] = observed_win_rate(battles, models, baseline)
    lengths = mean_lengths(battles)
    if lengths is not None:
        table["mean_length"] = table["model"].map(lengths)
    # a model no bootstrap round could rate (e.g. only battles of weight 0) sits last: its point rating is
    # only the scale's starting value
    table["_unplaced"] = ((note == ABSENT_NOTE).to_numpy() & bool(np.isfinite(low).any())) | unrated
    return table.sort_values(["_unplaced", "rating", "model"], ascending=[True, False, True],
                             kind="stable").drop(columns="_unplaced").reset_index(drop=True)


def _degenerate_intervals(
    table: pd.DataFrame, n_rounds: int, options: RatingOptions, fixed: str | None = None, identical: bool = False
) -> pd.Series:
    """Blank intervals the bootstrap cannot give (zero width or no round); returns the reason per model.

    A zero-width interval comes from data with a single outcome (every battle a tie, or one side always
    winning): every resample repeats it, so the bootstrap shows certainty the data does not have. When every
    round is the same resample (`identical`: one round, or a question bootstrap over one question) that is the
    reason instead. The `fixed` model (anchor or baseline) is the scale's reference point: its zero width is by
    definition.
    """
    note = pd.Series([None] * len(table), index=table.index, dtype=object)
    if not n_rounds:
        return note
    low, high = table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float)
    zero = np.isfinite(low) & (high - low <= 1e-6 * max(1.0, options.scale))
    zero &= (table["model"] != fixed).to_numpy()
    note[zero] = (
        f"{SAME_RESAMPLE_NOTE} ({n_rounds} round{'s' if n_rounds > 1 else ''}"
        f"{'' if n_rounds == 1 else ', over a single question' if options.bootstrap_by == 'question' else ''}), so "
        "they cannot show how much the rating varies" if identical else
        "undefined: every bootstrap round gave the same rating (the model's battles have a single "
        "outcome), so the data cannot bound it"
    )
    note[~np.isfinite(low)] = ABSENT_NOTE
    table.loc[zero, ["ci_low", "ci_high"]] = np.nan
    return note


def rate_all(
    battles: pd.DataFrame, options: RatingOptions
) -> tuple[RatingResult, dict[str, RatingResult], list[str]]:
    """Overall leaderboard and one refitted leaderboard per category (skipped categories are warned)."""
    overall = rate_battles(battles, options)
    per_category: dict[str, RatingResult] = {}
    notes: list[str] = []
    if hasattr(battles, "categories"):  # a streamed BattleSummary
        categories = battles.categories()
    else:
        categories = sorted({c for c in battles["category"].dropna().unique()}) if "category" in battles else []
    if "" in categories:  # '' names the overall rows in the outputs: such battles count overall only
        categories = [c for c in categories if c != ""]
        notes.append("battles with an empty category ('') count in the overall leaderboard only, like battles "
                     "without a category")
    for category in categories:
        try:
            per_category[category] = rate_battles(battles, options, category, strict=False)
        except ArenaError as exc:
            notes.append(f"category {category!r} skipped: {exc}")
    return overall, per_category, notes

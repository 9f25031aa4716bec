"""Checks that say when ratings are not identifiable or not trustworthy (disconnected, one-sided, tiny data)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from arena.rating.counts import PairCounts
from arena.rating.names import models_phrase

_EPS = 1e-12
_GROUPS_SHOWN = 5  # disconnected groups named in the warning, largest first


def _beats_graph(
    n_models: int, pi: np.ndarray, pj: np.ndarray, s: np.ndarray, n: np.ndarray
) -> sp.csr_matrix:
    """Directed graph with an edge i -> j when i scored against j (a win or a tie)."""
    fwd, back = s > _EPS, (n - s) > _EPS
    rows = np.r_[pi[fwd], pj[back]]
    cols = np.r_[pj[fwd], pi[back]]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_models, n_models))


def mle_exists(n_models: int, pi: np.ndarray, pj: np.ndarray, s: np.ndarray, n: np.ndarray) -> bool:
    """True when the BT maximum likelihood is finite and unique (Ford's condition on the active models)."""
    active = (np.bincount(pi, n, n_models) + np.bincount(pj, n, n_models)) > 0
    if active.sum() <= 1:
        return False
    graph = _beats_graph(n_models, pi, pj, s, n)
    _, labels = connected_components(graph, directed=True, connection="strong")
    return len(np.unique(labels[active])) == 1


def mle_exists_batch(
    n_models: int, pi: np.ndarray, pj: np.ndarray, s: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """mle_exists for each row of (B, P) statistics."""
    out = np.zeros(s.shape[0], bool)
    for b in range(s.shape[0]):
        out[b] = mle_exists(n_models, pi, pj, s[b], n[b])
    return out


def graph_groups(counts: PairCounts) -> np.ndarray:
    """Connected group of each model in the comparison graph, 0-based: models linked by battles that carry
    information (weight above 0; a model with only weightless battles is a group of its own)."""
    m = counts.n_models
    _, n = counts.pair_stats()
    linked = n > 0
    adjacency = sp.csr_matrix((np.ones(int(linked.sum())), (counts.pair_i[linked], counts.pair_j[linked])),
                              shape=(m, m))
    return connected_components(adjacency, directed=False)[1]


def rated_groups(groups: np.ndarray, weightless: np.ndarray) -> int:
    """How many groups hold a model with information (a weightless model's own group does not count)."""
    return len(set(np.asarray(groups)[~np.asarray(weightless, bool)].tolist())) or 1


def weightless_models(counts: PairCounts) -> np.ndarray:
    """Per model: True when it has battles but all of them weigh 0 (they carry no information)."""
    _, n = counts.pair_stats()
    m = counts.n_models
    weight = np.bincount(counts.pair_i, n, m) + np.bincount(counts.pair_j, n, m)
    return (weight <= 0) & (counts.model_battles() > 0)


def diagnose(
    counts: PairCounts, n_s: np.ndarray, n_n: np.ndarray, all_tie: bool, few_battles: int = 1, elo: bool = False
) -> list[str]:
    """Human-readable warnings about the comparison data behind a fit (worded for online Elo, which has no
    maximum-likelihood fit and no prior, when `elo`)."""
    models, m = counts.models, counts.n_models
    pi, pj = counts.pair_i, counts.pair_j
    warnings: list[str] = []
    labels, informed = graph_groups(counts), ~weightless_models(counts)  # weightless ones: their own warning
    found = sorted(set(labels[informed].tolist()))
    n_comp = len(found)
    if n_comp > 1:
        groups = sorted((sorted(models[k] for k in np.flatnonzero((labels == c) & informed)) for c in found),
                        key=lambda g: (-len(g), g[0]))
        shown = "; ".join(", ".join(g[:5]) + (" ..." if len(g) > 5 else "") for g in groups[:_GROUPS_SHOWN])
        more = f"; and {n_comp - _GROUPS_SHOWN} more" if n_comp > _GROUPS_SHOWN else ""
        warnings.append(
            f"the comparison graph is disconnected ({n_comp} groups: {shown}{more}); ratings of "
            "different groups are not comparable "
            + ("(each group drifts on its own)" if elo else "(each group is centred by a weak prior)")
        )
    score = np.bincount(pi, n_s, m) + np.bincount(pj, n_n - n_s, m)
    weight = np.bincount(pi, n_n, m) + np.bincount(pj, n_n, m)
    if elo:
        why = ("its Elo rating only reflects how many battles it had",
               "their Elo ratings only reflect how many battles they had")
    else:
        why = ("its rating has no finite maximum-likelihood value and is held finite by a weak prior",
               "their ratings have no finite maximum-likelihood value and are held finite by a weak prior")
    for mask, outcome, bound in (((weight > 0) & (score >= weight - _EPS), "won", ("a lower bound", "lower bounds")),
                                 ((weight > 0) & (score <= _EPS), "lost", ("an upper bound", "upper bounds"))):
        names = [models[k] for k in np.flatnonzero(mask)]
        if names:
            one = len(names) == 1
            warnings.append(f"{models_phrase(names)} {outcome} every battle: {why[not one]} "
                            f"(treat {'it as' if one else 'them as'} {bound[not one]})")
    if n_comp == 1 and not warnings and not mle_exists(m, pi, pj, n_s, n_n):
        warnings.append(
            "a group of models won every battle against the rest: the gap between the groups is "
            + ("not identifiable (Elo: it only reflects how many battles they had)" if elo else
               "not identifiable and is held finite by a weak prior")
        )
    weightless = [models[k] for k in np.flatnonzero(weightless_models(counts))]
    if weightless:
        warnings.append(f"{models_phrase(weightless)} {'has' if len(weightless) == 1 else 'have'} only battles of "
                        "weight 0: they carry no information, so the rating shown is the scale's starting value "
                        "with no interval (give those battles a weight to rate them)")
    if all_tie:
        warnings.append("every battle is a tie: all models get the same rating")
    battles = counts.model_battles()
    few = np.flatnonzero(battles <= few_battles)
    if len(few) == 1:
        warnings.append(f"model {models[few[0]]!r} has only {int(battles[few[0]])} battle(s): its rating is unreliable")
    elif len(few):
        warnings.append(f"{models_phrase([models[k] for k in few])} have at most {few_battles} battle(s) each: "
                        "their ratings are unreliable")
    return warnings

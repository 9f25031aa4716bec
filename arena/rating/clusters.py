"""Question clusters for the question-level bootstrap: which battles travel together when resampling.

The arena-hard paper resamples questions with replacement, each drawn question bringing all of its
battles. On sufficient statistics this is a sparse (questions x cells) count matrix Q: a round draws
question multiplicities q ~ Multinomial(n_questions, uniform) and its cell counts are q @ Q, which the
batched BT refit of `bootstrap` consumes exactly like a battle resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # scipy loads with the fit, not with the CLI (`arena rate` imports it beside the read)
    import scipy.sparse as sp

BOOTSTRAP_BY = ("battle", "question")


@dataclass(frozen=True)
class QuestionClusters:
    """Cluster code of every battle: one cluster per question_id, and one per battle without a question_id."""

    of_battle: np.ndarray  # (N,) int cluster code
    n_clusters: int
    n_questions: int  # clusters that are real questions
    n_unlabelled: int  # battles without a question_id (each its own cluster)

    def cell_matrix(self, cell_of_battle: np.ndarray, n_cells: int) -> sp.csr_matrix:
        """Sparse (clusters, cells) matrix: how many battles of each cell every cluster holds."""
        import scipy.sparse as sp

        ones = np.ones(len(self.of_battle), np.int64)
        return sp.csr_matrix((ones, (self.of_battle, cell_of_battle)), shape=(self.n_clusters, n_cells))

    def warnings(self) -> list[str]:
        """What the user must know about how the clusters were formed."""
        if not self.n_unlabelled:
            return []
        note = (
            f"{self.n_unlabelled} battle(s) have no question_id; the question bootstrap resamples each of "
            "them as its own question"
        )
        return [note]

    def describe(self) -> str:
        """Short statement of the resampling unit, e.g. `37 questions, each with all its battles`."""
        text = f"{self.n_questions} questions, each with all its battles"
        if self.n_unlabelled:
            text += f", plus {self.n_unlabelled} battle(s) without a question_id resampled alone"
        return text


@dataclass(frozen=True)
class CountedClusters(QuestionClusters):
    """Question clusters of streamed battles: the (clusters x cells) count matrix itself, no per-battle codes."""

    matrix: sp.csr_matrix | None = None

    def cell_matrix(self, cell_of_battle: np.ndarray, n_cells: int) -> sp.csr_matrix:
        """The precomputed (clusters, cells) matrix."""
        return self.matrix


def question_clusters(battles: pd.DataFrame) -> QuestionClusters:
    """Group battles by question_id (missing or empty ids become single-battle clusters)."""
    if hasattr(battles, "clusters"):  # a streamed SummaryView
        return battles.clusters()
    n = len(battles)
    if "question_id" in battles:  # missing ids may be None or NaN (pandas' str columns hold NaN)
        ids = pd.Series(battles["question_id"].to_numpy(object), dtype=object)
        missing = ids.isna().to_numpy() | (ids.astype(str) == "").to_numpy()
        ids = ids.astype(str).where(~missing, None)
    else:
        ids = pd.Series([None] * n, dtype=object)
    labelled = ids.notna().to_numpy()
    codes = np.empty(n, np.int64)
    question_codes, uniques = pd.factorize(ids[labelled], sort=True)
    codes[labelled] = question_codes
    n_questions = len(uniques)
    n_unlabelled = int((~labelled).sum())
    codes[~labelled] = n_questions + np.arange(n_unlabelled)
    return QuestionClusters(codes, n_questions + n_unlabelled, n_questions, n_unlabelled)


def draw_cluster_counts(matrix: sp.csr_matrix, rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, cells) cell counts of `size` question resamples: multinomial multiplicities @ matrix."""
    n_clusters = matrix.shape[0]
    picks = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=size)
    return np.asarray((matrix.T @ picks.T).T, dtype=np.int64)

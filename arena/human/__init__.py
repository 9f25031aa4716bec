"""Human evaluation: the append-only vote log, what to vote on next, human battles and judge-human agreement."""

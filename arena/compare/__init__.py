"""Week-on-week comparison of two runs: comparability, paired difference intervals, verdicts and reports."""

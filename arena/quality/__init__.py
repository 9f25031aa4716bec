"""Benchmark quality: separability, agreement with a reference, rank correlations, pair-rank Brier score."""

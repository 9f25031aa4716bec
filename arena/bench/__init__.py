"""Objective benchmarks: loaders, prompts, scorers and the bench runner (imports nothing on purpose).

`arena.config` imports `arena.bench.config`, so this package's __init__ must stay free of imports that
lead back to `arena.config` (the runner, the CLI): import the modules you need directly.
"""

"""Serving load tests (`arena perf`): load shapes, a lean streaming client, the metrics of a load level.

Modules: client (one streamed request on aiohttp), prompts (question sets or synthetic prompts), load
(concurrency and Poisson-rate shapes), metrics (a level's figures), target (what is tested: a candidate,
a URL, the offline demo server), preflight (bad input before any load), results (WORKSPACE/perf files),
report (terminal table), serving (every run's serving figures from its answer records), cli (`arena perf`).
"""

"""vLLM servers start as soon as the GPUs they need are free: never later than in the old waves, never two
clashing servers at once, and a candidate that needs every GPU is not passed over for ever."""
from __future__ import annotations

import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from arena.backends.vllm_server import plan_waves, ready_to_start, servers_clash


def simulate(gpu_sets, ports, durations):
    """Start times under ready_to_start, event by event (priority: plan_waves' order), and the run intervals."""
    waiting = [i for wave in plan_waves(gpu_sets, ports) for i in wave]
    running: dict[int, float] = {}  # index -> end time
    events: list[tuple[float, int]] = []
    start = {}
    now = 0.0
    while waiting or running:
        for i in ready_to_start(waiting, set(running), gpu_sets, ports):
            waiting.remove(i)
            start[i] = now
            running[i] = now + durations[i]
            heapq.heappush(events, (running[i], i))
        now, i = heapq.heappop(events)
        del running[i]
    return start


def wave_starts(gpu_sets, ports, durations):
    """Start times when each wave waits for the whole previous one (the scheduler before 2026-12-05)."""
    start, now = {}, 0.0
    for wave in plan_waves(gpu_sets, ports):
        for i in wave:
            start[i] = now
        now += max(durations[i] for i in wave)
    return start


gpu_set = st.one_of(st.none(), st.frozensets(st.integers(0, 3), max_size=3).map(set))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(gpu_set, st.sampled_from([None, None, 8000, 8001]), st.integers(1, 20)),
                min_size=1, max_size=8))
def test_never_later_than_waves_and_never_two_clashing_at_once(cands):
    gpu_sets = [c[0] for c in cands]
    ports = [c[1] for c in cands]
    durations = [float(c[2]) for c in cands]
    start = simulate(gpu_sets, ports, durations)
    waves = wave_starts(gpu_sets, ports, durations)
    assert sorted(start) == list(range(len(cands)))
    for i in start:
        assert start[i] <= waves[i]
        for j in start:
            if i < j and servers_clash(gpu_sets[i], ports[i], gpu_sets[j], ports[j]):
                # their run intervals do not overlap
                assert start[i] + durations[i] <= start[j] or start[j] + durations[j] <= start[i]


def test_a_freed_gpu_set_is_taken_at_once():
    # slow on GPU 0 (10), fast on GPU 1 (1), next on GPU 1: next starts at 1, not at 10 (waves: [0, 1], [2])
    assert plan_waves([{0}, {1}, {1}]) == [[0, 1], [2]]
    assert simulate([{0}, {1}, {1}], [None] * 3, [10.0, 1.0, 1.0]) == {0: 0.0, 1: 0.0, 2: 1.0}


def test_a_candidate_needing_every_gpu_is_not_passed_over():
    # waves [[0, 2], [1], [3, 4]]: 1 (no gpus: every GPU) waits for 0; 3 and 4 wait behind 1 even though GPU 1
    # is free from t=1 (they would otherwise keep it busy and 1 could wait for ever)
    gpu_sets = [{0}, None, {1}, {1}, {0}]
    assert plan_waves(gpu_sets) == [[0, 2], [1], [3, 4]]
    assert simulate(gpu_sets, [None] * 5, [5.0, 1.0, 1.0, 1.0, 1.0]) == {0: 0.0, 2: 0.0, 1: 5.0, 3: 6.0, 4: 6.0}
    assert ready_to_start([1, 3, 4], {0}, gpu_sets, [None] * 5) == []
    assert ready_to_start([3, 4], {0}, gpu_sets, [None] * 5) == [3]  # without 1 waiting, 3 would take GPU 1


def test_one_port_is_never_shared():
    assert ready_to_start([0, 1, 2], set(), [{0}, {1}, {2}], [8000, 8000, None]) == [0, 2]
    assert servers_clash(set(), None, None, None) and not servers_clash(set(), None, {0}, None)

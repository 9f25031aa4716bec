"""Online Elo in battle order (FastChat conventions) and its bootstrap over resampled battle sequences."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from arena.rating.progress import rounds_done


def online_elo(
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    weight: np.ndarray,
    n_models: int,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """One pass over the battles in order: R_a += K w (S_a - E_a), R_b -= the same amount.

    E_a = 1 / (1 + base ** ((R_b - R_a) / scale)); a tie scores 0.5; the weight scales K.
    """
    ratings = [float(init)] * n_models
    for ia, ib, s, w in zip(a.tolist(), b.tolist(), score.tolist(), weight.tolist()):
        ra, rb = ratings[ia], ratings[ib]
        expected = 1.0 / (1.0 + base ** ((rb - ra) / scale))
        delta = k * w * (s - expected)
        ratings[ia] = ra + delta
        ratings[ib] = rb - delta
    return np.array(ratings)


def bootstrap_elo(
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    weight: np.ndarray,
    n_models: int,
    n_rounds: int,
    seed: int,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    chunk: int = 1024,
    window: int = 1024,
    lanes: int = 3200,
) -> np.ndarray:
    """Elo of n_rounds resampled sequences (N battles drawn with replacement, in drawn order); (R, M),
    NaN where a model had no battle in a round.

    Round r of a chunk of rounds plays the battles in column r of an (N, chunk) matrix of indices drawn
    row by row from the seeded generator (a few thousand rows at a time: memory only, the draws do not
    depend on it). All rounds advance together in layers of battles that share no model (`schedule_block`);
    each battle is updated after every earlier battle of its round that shares a model, so every round is
    the per-battle pass of `online_elo` over its sequence. The arithmetic is done in natural units
    (u = (R - init) ln(base) / scale, E_a = 1 / (1 + exp(u_b - u_a))), which agrees with the per-battle
    `base ** x` form to about 1e-12 rating points, not bit for bit.
    `window` and `lanes` set the size of the scheduling blocks (speed and memory only).
    """
    n = len(a)
    out = np.empty((n_rounds, n_models))
    if n_rounds == 0:
        return out
    rng = np.random.default_rng(seed)
    g = math.log(base) / scale  # natural units per rating point
    # distinct (score, weight) outcomes: each battle carries a small code into their coefficient tables
    scores, s_code = np.unique(np.asarray(score, float), return_inverse=True)
    weights, w_code = np.unique(k * g * np.asarray(weight, float), return_inverse=True)
    pairs, o_code = np.unique(s_code.ravel() * len(weights) + w_code.ravel(), return_inverse=True)
    o_code = o_code.ravel().astype(_code_dtype(len(pairs)))
    kw = weights[pairs % len(weights)] if len(weights) else weights  # K w, in natural units
    kw_s = kw * scores[pairs // max(len(weights), 1)]  # K w s
    kw_const = float(kw[0]) if len(weights) == 1 else None
    pack = n_models <= 2**8  # both sides in one 16-bit code: one gather per draw instead of two
    if pack:
        ab_code = np.asarray(a).astype(np.uint16) | (np.asarray(b).astype(np.uint16) << 8)
    else:
        a_code, b_code = np.asarray(a).astype(_code_dtype(n_models)), np.asarray(b).astype(_code_dtype(n_models))
    for start in range(0, n_rounds, chunk):
        size = min(chunk, n_rounds - start)
        flat = np.zeros(size * n_models)  # ratings of all rounds, natural units above init
        seen = np.zeros((size, n_models), bool)
        # rating slots (round * M + model) of both sides packed in one integer: 16 bits each when they fit
        half = 16 if size * n_models <= 2**16 else 32
        slot_dtype, pair_dtype = (np.uint16, np.uint32) if half == 16 else (np.uint32, np.uint64)
        round_pair = (np.arange(size, dtype=pair_dtype) * n_models) * pair_dtype((1 << half) + 1)
        played_so_far, credited = 0, 0  # battles of the chunk's rounds played; rounds reported as done
        for n_win, width in _blocks(n, size, window, lanes):
            picks = rng.integers(0, n, size=(n_win * width, size))  # int64: faster gathers than int32
            if pack:
                ab = ab_code.take(picks)
                an, bn = (ab & 0xFF).astype(np.uint8), (ab >> 8).astype(np.uint8)
                del ab
            else:
                an, bn = a_code.take(picks), b_code.take(picks)
            on = o_code.take(picks)
            del picks
            # step-major (t, side, w, r) copies of the small codes: position w * width + t of round r
            codes_ab = np.empty((width, 2, n_win, size), an.dtype)
            codes_ab[:, 0] = an.reshape(n_win, width, size).transpose(1, 0, 2)
            codes_ab[:, 1] = bn.reshape(n_win, width, size).transpose(1, 0, 2)
            on = np.ascontiguousarray(on.reshape(n_win, width, size).transpose(1, 0, 2))
            dest, bounds, played = schedule_block(codes_ab, n_models)
            seen |= played
            # battles in layer order: rating slots of both sides (one scatter of packed pairs), outcome code
            first, second = (codes_ab[:, 0], codes_ab[:, 1]) if np.little_endian else (codes_ab[:, 1], codes_ab[:, 0])
            pair = np.empty((width, n_win, size), pair_dtype)
            np.multiply(second, pair_dtype(1 << half), out=pair, dtype=pair_dtype)
            pair += first
            pair += round_pair
            slots = np.empty((bounds[-1], 2), slot_dtype)
            slots.view(pair_dtype).reshape(-1)[dest] = pair.ravel()  # 1-d index: numpy's fast path
            codes = np.empty(bounds[-1], on.dtype)
            codes[dest] = on.ravel()
            del pair, dest
            _apply_layers(flat, slots, codes, bounds, kw_s, kw, kw_const)
            # all rounds of the chunk advance together: credit them in proportion to the battles played
            played_so_far += n_win * width
            credited = _credit(size * played_so_far // n, credited)
        _credit(size, credited)
        # a model that no battle of a round touched has no rating in that round (not its starting value)
        out[start : start + size] = np.where(seen, init + flat.reshape(size, n_models) / g, np.nan)
    return out


def _credit(done: int, credited: int) -> int:
    """Report the rounds between `credited` and `done` to the progress count; returns the new credited total."""
    if done > credited:
        rounds_done(done - credited)
    return max(done, credited)


def _code_dtype(count: int) -> type:
    """Smallest unsigned type for codes 0..count-1 (small codes make the per-draw gathers cheap)."""
    return np.uint8 if count <= 2**8 else np.uint16 if count <= 2**16 else np.int64


def _blocks(n: int, rounds: int, window: int, lanes: int) -> list[tuple[int, int]]:
    """(windows, window length) of the scheduling blocks covering n positions in order."""
    n_win = max(1, lanes // rounds)
    blocks, pos = [], 0
    while pos < n:
        if n - pos >= n_win * window:
            blocks.append((n_win, window))
        elif n - pos >= window:
            blocks.append(((n - pos) // window, window))
        else:
            blocks.append((1, n - pos))
        pos += blocks[-1][0] * blocks[-1][1]
    return blocks


def _apply_layers(
    flat: np.ndarray, sides: np.ndarray, codes: np.ndarray, bounds: list[int],
    kw_s: np.ndarray, kw: np.ndarray, kw_const: float | None,
) -> None:
    """Online Elo updates, one layer at a time: u_a += K w (s - E_a), u_b -= the same (natural units)."""
    buf = np.empty(max(np.diff(bounds).max(initial=0), 1))
    for lo, hi in pairwise(bounds):
        slots = sides[lo:hi].astype(np.intp)
        r = flat[slots]  # (S, 2): u_a, u_b
        x = buf[: hi - lo]
        np.subtract(r[:, 1], r[:, 0], out=x)
        np.exp(x, out=x)
        x += 1.0  # 1 / E_a
        if kw_const is not None:
            np.divide(kw_const, x, out=x)
        else:
            np.divide(kw.take(codes[lo:hi]), x, out=x)
        np.subtract(kw_s.take(codes[lo:hi]), x, out=x)
        r[:, 0] += x
        r[:, 1] -= x
        flat[slots] = r


def schedule_block(sides: np.ndarray, n_models: int) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Layers for a block of battles: sides is (W, 2, windows, R), [t, :, w, r] the model codes of side a
    and side b of the battle at position w * W + t of round r. Returns the place of each battle in layer order (flat, in (t, w, r)
    order), the layer bounds, and which (round, model) played.

    Each battle gets the depth of the as-soon-as-possible schedule within its window: one more than the
    deepest earlier battle of the window and round sharing a model (a scan over the W steps, vectorised
    over all windows and rounds: the lanes). Window w of round r is placed after window w - 1 of the same
    round ends (its depths are offset by that round's depths so far), so rounds do not wait for each
    other. A layer never holds two battles of one round sharing a model, and every battle comes after each
    earlier battle of its round it shares a model with. Within a layer, battles are grouped by window
    and round and keep their step order (ranks counted during the scan).
    """
    width, _, n_win, rounds = sides.shape
    n_lanes = n_win * rounds
    small = np.int16 if width < 2**15 else np.int32  # depths and ranks never exceed the window
    last = np.zeros(n_lanes * n_models, small)  # depth of each model's last battle, per lane
    lane_key = (np.arange(n_lanes, dtype=np.intp) * n_models).reshape(n_win, rounds)[None].repeat(2, 0)
    lane = np.arange(n_lanes, dtype=np.intp)
    count = np.zeros((width + 1) * n_lanes, small)  # battles so far per (depth, lane)
    group = np.empty((width, n_lanes), np.intp)  # depth * lanes + lane of each battle, in step order
    rank = np.empty((width, n_lanes), small)  # its place within that group
    keys = np.empty((2, n_lanes), np.intp)
    keys_4d = keys.reshape(2, n_win, rounds)
    got = np.empty((2, n_lanes), small)
    depth = np.empty((2, n_lanes), small)
    bumped = np.empty(n_lanes, small)
    for t in range(width):
        np.add(lane_key, sides[t], out=keys_4d)
        np.take(last, keys, out=got, mode="clip")  # in range: "raise" copies via a temporary
        np.maximum(got, got[::-1], out=depth)  # both rows: the deeper of the two sides
        depth += 1
        last[keys] = depth
        grp = group[t]
        np.multiply(depth[0], n_lanes, out=grp, dtype=np.intp)
        grp += lane
        np.take(count, grp, out=rank[t], mode="clip")
        np.add(rank[t], 1, out=bumped)
        count[grp] = bumped
    depths = last.reshape(n_win, rounds, n_models)
    played = (depths > 0).any(0)
    span = depths.max(-1).astype(np.int64)  # (w, r): layers used by each window of each round
    offset = np.zeros((n_win, rounds), np.int64)
    np.cumsum(span[:-1], axis=0, out=offset[1:])
    n_layers = int((offset[-1] + span[-1]).max())
    deepest = int(span.max())
    # starts of each (depth, window, round) group in layer order: layer, then round (windows of a round
    # never share a layer)
    sizes = count.reshape(width + 1, n_win, rounds)[1 : deepest + 1]
    slot = (offset + np.arange(deepest)[:, None, None]) * rounds + np.arange(rounds)  # (layer - 1) * R + r
    slot = np.where(sizes > 0, slot, 0)
    per_slot = np.bincount(slot.ravel(), weights=sizes.ravel(), minlength=n_layers * rounds).astype(np.int64)
    starts = np.zeros(n_layers * rounds + 1, np.int64)
    np.cumsum(per_slot, out=starts[1:])
    group_start = np.zeros((deepest + 1, n_win, rounds), np.intp)  # indexed by depth * lanes + lane
    group_start[1:] = starts[slot]
    dest = group_start.ravel().take(group.ravel())
    dest += rank.ravel()
    return dest, starts[::rounds].tolist(), played

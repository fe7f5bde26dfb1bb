"""Interleaved timing of several steps in one process, robust to shared CPUs.

Timing model A, then model B minutes later, measures the machine's load as
much as the models. :func:`time_interleaved` instead runs rounds that time one
step of every model in turn (the first model rotates each round), so slow
drifts of the load hit all models alike; :func:`summarize` reports medians,
the ratio of medians to a baseline and the median of the per-round ratios.
On a machine shared with other processes, ``max_foreign`` discards a step
during which other processes kept more than that many cores busy (Linux
``/proc/stat`` minus this process's own CPU time) and runs more rounds.

Example:
    >>> timer = StepTimer('cpu', 'wall')
    >>> times, dropped = time_interleaved(
    ...     dict(baseline=step_a, model=step_b), warmup=2, repeats=10,
    ...     timer=timer)
    >>> rows = summarize(times, batch=8)
    >>> rows[1]['ratio']  # median(model) / median(baseline)
"""
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

__all__ = [
    'StepTimer', 'foreign_cpu_probe', 'time_interleaved', 'quartiles',
    'summarize'
]


class StepTimer:
    """Seconds one call of ``fn`` takes (CUDA synchronised around it).

    Args:
        device (str): ``'cpu'`` or a CUDA device.
        kind (str): ``'wall'`` (``perf_counter``) or ``'cpu'`` (this
            process's CPU time, a proxy that ignores time stolen by other
            processes; meaningful with one thread).
    """

    def __init__(self, device: str, kind: str = 'wall'):
        if kind not in ('wall', 'cpu'):
            raise ValueError(f"timer kind must be 'wall' or 'cpu', got "
                             f'{kind!r}')
        self.cuda = device.startswith('cuda')
        self.clock = time.process_time if kind == 'cpu' else time.perf_counter

    def __call__(self, fn: Callable[[], None]) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        start = self.clock()
        fn()
        if self.cuda:
            torch.cuda.synchronize()
        return self.clock() - start


def foreign_cpu_probe() -> Callable[[], float]:
    """A probe returning the CPU seconds that *other* processes used since
    its previous call (Linux: ``/proc/stat`` minus this process's own
    time)."""
    hz = os.sysconf('SC_CLK_TCK')

    def busy() -> float:
        with open('/proc/stat') as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / hz

    def own() -> float:
        t = os.times()
        return t.user + t.system

    last = [busy(), own()]

    def probe() -> float:
        now = [busy(), own()]
        foreign = (now[0] - last[0]) - (now[1] - last[1])
        last[:] = now
        return max(foreign, 0.0)

    return probe


def time_interleaved(
        steps: Dict[str, Callable[[], None]],
        warmup: int,
        repeats: int,
        timer: StepTimer,
        max_foreign: Optional[float] = None,
        max_rounds: Optional[int] = None
) -> Tuple[Dict[str, List[float]], Dict[str, int]]:
    """Time every step in rotating order.

    Args:
        steps (dict): name -> step (a closure).
        warmup (int): Untimed rounds first.
        repeats (int): Timed steps wanted per model.
        timer (StepTimer): Measures one call.
        max_foreign (float, optional): Discard a step while other processes
            kept more than this many cores busy on average.
        max_rounds (int, optional): Give up after this many rounds (default:
            ``warmup + repeats``, or ``warmup + 5 * repeats`` with
            ``max_foreign``).

    Returns:
        tuple: (name -> step times in seconds, name -> discarded steps).

    Raises:
        RuntimeError: If a model got no clean step in ``max_rounds``.
    """
    from mmengine.utils import ProgressBar
    names = list(steps)
    times = {n: [] for n in names}
    dropped = {n: 0 for n in names}
    probe = foreign_cpu_probe() if max_foreign is not None else None
    max_rounds = max_rounds or (warmup + repeats if probe is None
                                else warmup + 5 * repeats)
    bar = ProgressBar(len(names) * repeats, file=sys.stderr)
    for r in range(max_rounds):
        if r >= warmup and all(len(t) >= repeats for t in times.values()):
            break
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            if probe is not None:
                probe()
            dt = timer(steps[name])
            if r < warmup or len(times[name]) >= repeats:
                continue
            if probe is not None and probe() > max_foreign * dt:
                dropped[name] += 1
                continue
            times[name].append(dt)
            bar.update()
    sys.stderr.write('\n')
    short = [n for n in names if not times[n]]
    if short:
        raise RuntimeError(f'no clean step for {short} in {max_rounds} '
                           'rounds: raise --max-foreign-load or run later')
    return times, dropped


def quartiles(values: List[float]) -> Tuple[float, float]:
    """(first, third) quartile; the value itself for a single one."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def summarize(times: Dict[str, List[float]], batch: int) -> list:
    """One row per model: medians in ms, images/s and, against
    ``times['baseline']`` if present, the ratio of medians and the median
    (and IQR) of the per-round ratios."""
    rows, base = [], times.get('baseline')
    for name, ts in times.items():
        med = statistics.median(ts)
        q1, q3 = quartiles(ts)
        row = dict(model=name, median_ms=med * 1e3, q1_ms=q1 * 1e3,
                   q3_ms=q3 * 1e3, images_per_s=batch / med, times_s=ts)
        if base is not None:
            paired = [t / b for t, b in zip(ts, base)]
            row['ratio'] = med / statistics.median(base)
            row['paired_ratio'] = statistics.median(paired)
            row['paired_q1'], row['paired_q3'] = quartiles(paired)
        rows.append(row)
    return rows

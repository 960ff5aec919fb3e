"""Shared by the benchmark scripts: time a callable several times in this process."""
import statistics
import time


def timed(fn, repeats):
    """Run ``fn`` ``repeats`` times; return (median seconds, all times, last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result

"""The numba kernel of ``var.simulate_var``: bit-identical to the numpy kernel, about 4x faster.

It runs numpy's SFC64 generator inline (``np.random.SFC64`` seeded from the same seed words, so
the same stream as ``var.signal_generator``), compares each raw draw with the tail threshold in
the same loop, and keeps only the lower tail in one preallocated buffer: no uniform array is
ever materialised. Everything stays in integers: numpy's uniform is ``(x >> 11) * 2^-53``, so
``u < keep_below`` is exactly ``x >> 11 < ceil(keep_below * 2^53)``, and the selected integers
map back to the very floats numpy returns.

Exactness does not depend on the buffer size. When the buffer would overflow, it is compacted to
the ``i95 + 1`` smallest values kept so far and the threshold drops to the largest of them
(strictly below it only), which never loses a value of rank at most ``i95``. A tail that ends
with fewer than ``i95 + 1`` values is replayed from the start keeping everything, through the
same compaction: the numpy kernel's replay rule, in O(tail) memory.

The two ranks are selected exactly: one pass counts the values below a band around each rank's
expected value (the kept values are uniform below the threshold) and copies the band out, and a
quickselect of the small band finishes; if a rank falls outside its band (about 1e-15), a
quickselect of the whole tail gives it instead.

numba is optional (the ``fast`` extra): ``var.simulate_var`` imports this module only when
numba imports, and the numpy kernel gives the same numbers without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]
UInt64Array = npt.NDArray[np.uint64]
Index = int | np.int64  # numba types both as int64

BLOCK = 4096
"""Least free space worth a segment of draws; with less, the tail buffer is compacted first."""

SFC64_WARMUP = 12
"""Outputs SFC64 discards after setting its state from the seed words (numpy's sfc64_set_seed)."""

_F = TypeVar("_F", bound=Callable[..., object])


def _compiled(function: _F) -> _F:
    """``@njit(cache=True, nogil=True)``, typed for mypy (numba ships no type information).

    numba refuses ``cache=True`` (RuntimeError "no locator available") where neither the
    package's ``__pycache__`` nor a user cache directory is writable, e.g. a read-only image;
    the kernel then compiles in each process instead (about half a second) rather than failing.
    """
    try:
        return cast(_F, njit(cache=True, nogil=True)(function))
    except RuntimeError:
        return cast(_F, njit(nogil=True)(function))


_ONE = np.uint64(1)
_S3, _S11, _S24, _S40 = np.uint64(3), np.uint64(11), np.uint64(24), np.uint64(40)
_SEGMENT = np.int64(1 << 30)  # fits the 32-bit trip count of the draw loop
_BLOCK = np.int64(BLOCK)
_ALL = np.uint64(1 << 53)  # above every 53-bit draw: keep everything
_TO_UNIT = 2.0**-53
_BAND_FROM = 64  # fewer kept values: a quickselect of them all is as cheap as the band pass


@_compiled
def _next(
    a: np.uint64, b: np.uint64, c: np.uint64, counter: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64, np.uint64]:
    """One SFC64 step (numpy's sfc64_next): the new state (a, b, c, counter) and the output."""
    result = a + b + counter
    return (
        b ^ (b >> _S11),
        c + (c << _S3),
        ((c << _S24) | (c >> _S40)) + result,
        counter + _ONE,
        result,
    )


@_compiled
def _seeded(words: UInt64Array) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """The SFC64 state numpy's sfc64_set_seed makes of the seed words: set, then 12 steps."""
    a, b, c, counter = words[0], words[1], words[2], _ONE
    for _ in range(SFC64_WARMUP):
        a, b, c, counter, _ = _next(a, b, c, counter)
    return a, b, c, counter


@_compiled
def _select(values: UInt64Array, low: Index, high: Index, k: Index) -> None:
    """Reorder ``values[low:high]`` so that position ``k`` holds its order statistic.

    Hoare's FIND with a median-of-three pivot: smaller or equal values end left of ``k``,
    larger or equal ones right of it.
    """
    high -= 1
    while high > low:
        mid = (low + high) >> 1
        a, b, c = values[low], values[mid], values[high]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = low, high
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            high = j
        elif k >= i:
            low = i
        else:
            return


@_compiled
def _band(n: Index, k: int, threshold: np.uint64) -> tuple[np.uint64, np.uint64]:
    """(start, width) of the values likely to hold rank ``k`` of ``n`` uniforms below threshold.

    The k-th smallest is Beta(k + 1, n - k) times the threshold: mean p, sd sqrt(p (1-p) / n).
    The band spans 8 sd either side: it holds about 16 sqrt(n p (1-p)) <= 8 sqrt(n) values.
    """
    p = (k + 1.0) / (n + 1.0)
    half = 8.0 * math.sqrt(p * (1.0 - p) / n) * float(threshold) + 2.0
    start = max(0.0, p * float(threshold) - half)
    return np.uint64(start), np.uint64(2.0 * half)


@_compiled
def _select_two(
    tail: UInt64Array, n: Index, k_low: int, k_high: int, threshold: np.uint64, bands: UInt64Array
) -> tuple[np.uint64, np.uint64]:
    """The order statistics of ranks ``k_low <= k_high`` of ``tail[:n]`` (reordered)."""
    size = bands.shape[1]
    if n > _BAND_FROM:
        start_low, width_low = _band(n, k_low, threshold)
        start_high, width_high = _band(n, k_high, threshold)
        below_low = below_high = in_low = in_high = 0
        full = False
        for i in range(n):
            x = tail[i]
            below_low += x < start_low
            below_high += x < start_high
            bands[0, in_low] = x
            in_low += x - start_low < width_low  # unsigned: also false below the start
            bands[1, in_high] = x
            in_high += x - start_high < width_high
            if in_low == size or in_high == size:
                full = True
                break
        if (
            not full
            and below_low <= k_low < below_low + in_low
            and below_high <= k_high < below_high + in_high
        ):
            low_band, high_band = bands[0], bands[1]
            _select(low_band, 0, in_low, k_low - below_low)
            _select(high_band, 0, in_high, k_high - below_high)
            return low_band[k_low - below_low], high_band[k_high - below_high]
    _select(tail, 0, n, k_high)
    if k_low < k_high:
        _select(tail, 0, k_high, k_low)
    return tail[k_low], tail[k_high]


@_compiled
def _stream_tail(
    words: UInt64Array, d: int, threshold: np.uint64, keep: int, tail: UInt64Array
) -> tuple[np.int64, np.uint64]:
    """Draw ``d`` values of the stream seeded by ``words``; keep those below ``threshold``.

    Returns how many values ``tail`` holds and the final threshold. When ``tail`` is nearly
    full, it keeps its ``keep`` smallest values and keeps only values below the largest of them
    thereafter: the ``keep`` smallest of all ``d`` draws are still all there (up to ties, whose
    values are equal). ``len(tail)`` must be at least ``min(d, keep + BLOCK)``.
    """
    a, b, c, counter = _seeded(words)
    capacity = np.uint64(tail.size)
    n = np.uint64(0)  # unsigned: the store needs no negative-index check
    done, total = np.int64(0), np.int64(d)
    while done < total:
        left = total - done
        # A segment of at most the free space cannot overflow, so its loop needs no check.
        count = min(np.int64(capacity - n), left, _SEGMENT)
        if count < min(_BLOCK, left):
            _select(tail, 0, np.int64(n), keep - 1)
            n = np.uint64(keep)
            threshold = tail[keep - 1]
            count = min(np.int64(capacity - n), left, _SEGMENT)
        # A 32-bit trip count measured 1.3x faster: LLVM then folds it into SFC64's counter.
        for _ in range(np.int32(count)):
            a, b, c, counter, result = _next(a, b, c, counter)
            draw = result >> _S11
            tail[n] = draw  # written always, kept only if the count moves past it: no branch
            n += np.uint64(draw < threshold)
        done += count
    return np.int64(n), threshold


@_compiled
def _tail_kernel(
    words: UInt64Array,
    d: int,
    threshold: np.uint64,
    i95: int,
    i99: int,
    tail: UInt64Array,
    bands: UInt64Array,
    u95: FloatArray,
    u99: FloatArray,
) -> None:
    """For every signal (row of ``words``), uniforms of ranks ``i95`` and ``i99`` of ``d``."""
    for j in range(words.shape[0]):
        n, final = _stream_tail(words[j], d, threshold, i95 + 1, tail)
        if n <= i95:  # too few below the threshold: replay the same stream keeping everything
            n, final = _stream_tail(words[j], d, _ALL, i95 + 1, tail)
        low, high = _select_two(tail, n, i99, i95, final, bands)
        u99[j] = float(low) * _TO_UNIT
        u95[j] = float(high) * _TO_UNIT


@_compiled
def sfc64_uniforms(words: UInt64Array, count: int) -> FloatArray:
    """The first ``count`` uniforms of ``np.random.SFC64`` seeded with ``words`` (for tests)."""
    out = np.empty(count, dtype=np.float64)
    a, b, c, counter = _seeded(words)
    for i in range(count):
        a, b, c, counter, result = _next(a, b, c, counter)
        out[i] = float(result >> _S11) * _TO_UNIT  # numpy's next_double
    return out


def tail_threshold(keep_below: float) -> np.uint64:
    """The integer form of ``u < keep_below`` for numpy's uniforms ``u = x * 2^-53``."""
    return np.uint64(min(max(math.ceil(keep_below * 2.0**53), 0), 1 << 53))


def tail_capacity(d: int, keep_below: float, i95: int) -> int:
    """Buffer length that holds the kept tail without compaction but in about 1e-15 of streams."""
    mean = d * min(max(keep_below, 0.0), 1.0)
    expected = math.ceil(mean + 8.0 * math.sqrt(mean) + 16.0)
    return min(d, max(expected, i95 + 1) + BLOCK)


def band_size(capacity: int) -> int:
    """Length of each band buffer: twice the largest expected band, 8 sqrt(n) values."""
    return math.ceil(16.0 * math.sqrt(capacity)) + 256


def tail_uniforms(
    words: UInt64Array,
    d: int,
    keep_below: float,
    i95: int,
    i99: int,
    tail: UInt64Array | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Uniforms of ranks ``i95`` and ``i99`` among the ``d`` draws of each signal's stream.

    ``words`` holds one row of SFC64 seed words per signal (``var.seed_words``). ``keep_below``
    is the kept fraction (``var._tail_fraction(d)``): any value gives the same result, only the
    speed and the replay differ. ``tail`` is the buffer (at least ``min(d, i95 + 1 + BLOCK)``
    long; default ``tail_capacity``); every array is allocated here, none inside numba.
    """
    if not 0 <= i99 <= i95 < d:
        raise ValueError("need 0 <= i99 <= i95 < d")
    words = np.ascontiguousarray(words, dtype=np.uint64)
    if words.ndim != 2 or words.shape[1] != 3:
        raise ValueError("words must have one row of 3 SFC64 seed words per signal")
    if tail is None:
        tail = np.empty(tail_capacity(d, keep_below, i95), dtype=np.uint64)
    if tail.dtype != np.uint64 or tail.size < min(d, i95 + 1 + BLOCK):
        raise ValueError("tail must be a uint64 buffer of at least min(d, i95 + 1 + BLOCK)")
    bands = np.empty((2, band_size(tail.size)), dtype=np.uint64)
    n = words.shape[0]
    u95 = np.empty(n, dtype=np.float64)
    u99 = np.empty(n, dtype=np.float64)
    _tail_kernel(words, d, tail_threshold(keep_below), i95, i99, tail, bands, u95, u99)
    return u95, u99

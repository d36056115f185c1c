"""Monte Carlo Value at Risk of one resource's batch of signals.

For each signal, ``d`` returns are drawn from Normal(mean, std) and sorted descending, as the
source system did; ``var95 = sim[int(0.95 d)]`` and ``var99 = sim[int(0.99 d)]`` are then the 5th
and 1st percentiles (negative fractional one-day returns). In ascending order those are the order
statistics of 0-based rank ``d - 1 - int(0.95 d)`` and ``d - 1 - int(0.99 d)``.

Draws use the inverse-CDF method: ``x = mean + std * Phi^-1(u)`` with ``u`` uniform on (0, 1).
Because ``x`` increases with ``u``, the k-th smallest ``x`` is ``mean + std * Phi^-1(u_(k))``: the
kernel streams the uniforms in chunks, keeps only the lower tail (a fraction ``0.05`` plus eight
binomial standard deviations), selects the two order statistics exactly, and maps just those two
values. The result is bit-for-bit the value a full sort of all ``d`` mapped draws gives
(``reference_var`` below, and the tests), with O(tail) memory instead of O(d).

Every (seed, resource index, signal index) has its own independent stream: an SFC64 generator
seeded by ``SeedSequence(seed, spawn_key=(resource_index, signal_index))``. The same seed gives
the same numbers whichever resource, process, service, platform or kernel runs the batch.

Two kernels compute ``simulate_var``, with bit-identical results: the numpy one below, and a numba
one (``fastvar``, about 4x faster) that inlines the same SFC64 stream. The numba kernel runs when
numba imports (the ``fast`` extra); AWS Lambda's package has no numba and runs numpy. The
environment variable ``SIGNALRISK_KERNEL`` (``auto``, ``numpy`` or ``numba``) forces one.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
from numpy.random.bit_generator import ISeedSequence

from signalrisk.quant.prices import FloatArray

UInt32Array = npt.NDArray[np.uint32]
UInt64Array = npt.NDArray[np.uint64]

CHUNK = 1 << 16
"""Uniforms drawn per call: 512 KiB of float64 stays in L2 cache."""

KERNEL_ENV = "SIGNALRISK_KERNEL"
KERNELS = ("auto", "numpy", "numba")

_HALF_ULP = 2.0**-54
_BELOW_ONE = 1.0 - 2.0**-53


def _open_unit(u: float) -> float:
    """``u`` from numpy's grid {k / 2^53} moved into the open interval (0, 1) for Phi^-1.

    The shift onto the grid's midpoints keeps u away from 0; above 0.5 a midpoint is not a float
    and 1 - 2^-53 would round up to 1.0, so the result is capped just below 1.
    """
    return min(u + _HALF_ULP, _BELOW_ONE)


_INV_CDF = NormalDist().inv_cdf


@dataclass(frozen=True, slots=True)
class VarEstimates:
    """Per-signal 95% and 99% VaR of one resource, as fractional one-day returns."""

    var95: FloatArray
    var99: FloatArray


def rank_95(d: int) -> int:
    """Ascending 0-based rank read as var95: the seed's ``sorted(desc)[int(0.95 d)]``."""
    return d - 1 - (95 * d) // 100  # integer form of int(0.95*d), exact for every d


def rank_99(d: int) -> int:
    """Ascending 0-based rank read as var99: the seed's ``sorted(desc)[int(0.99 d)]``."""
    return d - 1 - (99 * d) // 100


# ---------------------------------------------------------------------------------------------
# Streams


def signal_generator(seed: int, resource_index: int, signal_index: int) -> np.random.Generator:
    """The independent random stream of one (run seed, resource, signal)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(resource_index, signal_index))
    return np.random.Generator(np.random.SFC64(sequence))


# numpy's SeedSequence (numpy/random/bit_generator.pyx): 32-bit hash constants, pool of 4 words.
_MASK32 = 0xFFFFFFFF
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4
_SFC64_WORDS = 3

_SEED_LOOP_BELOW = 8  # smaller batches: SeedSequence per signal is cheaper than the vector setup


def _uint32_words(value: int) -> list[int]:
    """A non-negative int as 32-bit words, lowest first (numpy's _int_to_uint32_array)."""
    words = [value & _MASK32]
    value >>= 32
    while value:
        words.append(value & _MASK32)
        value >>= 32
    return words


class _Hash:
    """SeedSequence's ``hashmix``, whose multiplier advances on every call."""

    def __init__(self, init: int, mult: int) -> None:
        self.const = init
        self.mult = mult

    def word(self, value: int) -> int:
        value ^= self.const
        self.const = (self.const * self.mult) & _MASK32
        value = (value * self.const) & _MASK32
        return value ^ (value >> 16)

    def vector(self, value: UInt32Array) -> UInt32Array:
        value = value ^ np.uint32(self.const)
        self.const = (self.const * self.mult) & _MASK32
        value = value * np.uint32(self.const)
        return value ^ (value >> np.uint32(16))


def _mix_word(x: int, y: int) -> int:
    result = (_MIX_L * x - _MIX_R * y) & _MASK32
    return result ^ (result >> 16)


def _mix_vector(x: UInt32Array, y: UInt32Array) -> UInt32Array:
    result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    mixed: UInt32Array = result ^ (result >> np.uint32(16))
    return mixed


def seed_words(seed: int, resource_index: int, n: int) -> UInt64Array:
    """SFC64 seed words of signals ``0..n-1``, shape ``(n, 3)``.

    Row ``j`` equals ``SeedSequence(seed, spawn_key=(resource_index, j)).generate_state(3,
    np.uint64)``, from which ``np.random.SFC64`` sets its state (a, b, c, counter=1) and discards
    12 outputs. Batches are hashed as vectors: only the last entropy word (the signal index)
    differs between signals, so the pool before it is computed once.
    """
    seed, resource_index = operator.index(seed), operator.index(resource_index)  # exact ints
    if seed < 0 or resource_index < 0 or n < 0 or n > _MASK32 + 1:
        raise ValueError("seed, resource_index and n must be non-negative, n at most 2**32")
    if n < _SEED_LOOP_BELOW:
        rows = [
            np.random.SeedSequence(seed, spawn_key=(resource_index, j)).generate_state(
                _SFC64_WORDS, np.uint64
            )
            for j in range(n)
        ]
        return np.array(rows, dtype=np.uint64).reshape(n, _SFC64_WORDS)
    run = _uint32_words(seed)
    run += [0] * (_POOL - len(run))  # numpy pads the run entropy when there is a spawn key
    entropy = run + _uint32_words(resource_index)
    mixer = _Hash(_INIT_A, _MULT_A)
    pool = [mixer.word(word) for word in entropy[:_POOL]]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix_word(pool[dst], mixer.word(pool[src]))
    for word in entropy[_POOL:]:
        for dst in range(_POOL):
            pool[dst] = _mix_word(pool[dst], mixer.word(word))
    signal = np.arange(n, dtype=np.uint32)
    vectors = [
        _mix_vector(np.full(n, pool[dst], dtype=np.uint32), mixer.vector(signal))
        for dst in range(_POOL)
    ]
    generate = _Hash(_INIT_B, _MULT_B)
    halves = [generate.vector(vectors[i % _POOL]) for i in range(2 * _SFC64_WORDS)]
    words = np.empty((n, _SFC64_WORDS), dtype=np.uint64)
    for k in range(_SFC64_WORDS):
        low, high = halves[2 * k].astype(np.uint64), halves[2 * k + 1].astype(np.uint64)
        words[:, k] = low | (high << np.uint64(32))
    return words


class _SeedWords(ISeedSequence):
    """Seed words computed in advance, handed to ``np.random.SFC64`` as if by its SeedSequence."""

    def __init__(self, words: UInt64Array) -> None:
        self.words = np.ascontiguousarray(words, dtype=np.uint64)  # SFC64 reads the raw buffer

    def generate_state(self, n_words: int, dtype: npt.DTypeLike = np.uint32) -> UInt64Array:
        if n_words != _SFC64_WORDS or np.dtype(dtype) != np.uint64:
            raise ValueError("only SFC64's three 64-bit seed words are held")
        return self.words


def _signal_generators(seed: int, resource_index: int, n: int) -> Iterator[np.random.Generator]:
    """``signal_generator(seed, resource_index, j)`` for ``j < n``, seeded faster in batches."""
    if n < _SEED_LOOP_BELOW:
        return (signal_generator(seed, resource_index, j) for j in range(n))
    rows = seed_words(seed, resource_index, n)
    # numpy takes any ISeedSequence; its stub names only SeedSequence.
    return (np.random.Generator(np.random.SFC64(_SeedWords(row))) for row in rows)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The numpy kernel


def _tail_fraction(d: int) -> float:
    """Fraction of uniforms kept: 5% plus 8 binomial sigmas, so a replay is astronomically rare."""
    return min(1.0, 0.05 + 8.0 * math.sqrt(0.05 * 0.95 / d))


def _tail_uniforms(gen: np.random.Generator, d: int, i95: int) -> FloatArray:
    """The lower tail of ``d`` uniforms from ``gen``, holding at least ranks 0..i95."""
    saved = gen.bit_generator.state
    keep_below = _tail_fraction(d)
    if keep_below >= 1.0:
        return gen.random(d)
    parts = []
    chunk = np.empty(min(CHUNK, d), dtype=np.float64)
    remaining = d
    while remaining:
        drawn = chunk[: min(CHUNK, remaining)]
        gen.random(out=drawn)
        parts.append(drawn[drawn < keep_below])
        remaining -= drawn.size
    tail = np.concatenate(parts)
    if tail.size > i95:
        return tail
    gen.bit_generator.state = saved  # replay the same stream in full: same draws, same answer
    return gen.random(d)


def select_ranks(values: FloatArray, low: int, high: int) -> tuple[float, float]:
    """The order statistics of 0-based ranks ``low <= high`` (two nested single-k selections)."""
    part = np.partition(values, high)
    high_value = float(part[high])
    low_value = high_value if low == high else float(np.partition(part[:high], low)[low])
    return low_value, high_value


def _to_var(u: float, mean: float, std: float) -> float:
    """The draw ``mean + std * Phi^-1(u)`` of the uniform ``u``: one rule for both kernels."""
    return mean + std * _INV_CDF(_open_unit(u))


def simulate_signal(
    gen: np.random.Generator, mean: float, std: float, d: int
) -> tuple[float, float]:
    """(var95, var99) of ``d`` Normal(mean, std) draws from ``gen``."""
    i95, i99 = rank_95(d), rank_99(d)
    u99, u95 = select_ranks(_tail_uniforms(gen, d, i95), i99, i95)
    return _to_var(u95, mean, std), _to_var(u99, mean, std)


def _simulate_numpy(
    means: FloatArray, stds: FloatArray, d: int, seed: int, resource_index: int
) -> VarEstimates:
    n = len(means)
    var95 = np.empty(n, dtype=np.float64)
    var99 = np.empty(n, dtype=np.float64)
    generators = _signal_generators(seed, resource_index, n)
    for j, gen in enumerate(generators):  # a loop over signals; the draws inside are vectorised
        var95[j], var99[j] = simulate_signal(gen, float(means[j]), float(stds[j]), d)
    return VarEstimates(var95, var99)


# ---------------------------------------------------------------------------------------------
# The numba kernel and the choice between the two


_TailUniforms = Callable[[UInt64Array, int, float, int, int], tuple[FloatArray, FloatArray]]
_Kernel = Callable[[FloatArray, FloatArray, int, int, int], VarEstimates]


def _simulate_numba(
    tail_uniforms: _TailUniforms,
    means: FloatArray,
    stds: FloatArray,
    d: int,
    seed: int,
    resource_index: int,
) -> VarEstimates:
    n = len(means)
    u95, u99 = tail_uniforms(
        seed_words(seed, resource_index, n), d, _tail_fraction(d), rank_95(d), rank_99(d)
    )
    var95 = np.empty(n, dtype=np.float64)
    var99 = np.empty(n, dtype=np.float64)
    columns = (u95.tolist(), u99.tolist(), np.asarray(means).tolist(), np.asarray(stds).tolist())
    for j, (a, b, mean, std) in enumerate(zip(*columns, strict=True)):
        var95[j], var99[j] = _to_var(a, mean, std), _to_var(b, mean, std)
    return VarEstimates(var95, var99)


@cache
def _numba_tail_uniforms() -> _TailUniforms | None:
    """The numba kernel when numba imports, else None (an error inside fastvar propagates)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    from signalrisk.quant.fastvar import tail_uniforms

    return tail_uniforms


def _kernel() -> _Kernel:
    """The kernel ``SIGNALRISK_KERNEL`` asks for: numba when it imports (auto), or the one named."""
    choice = os.environ.get(KERNEL_ENV, "auto").strip().lower() or "auto"
    if choice not in KERNELS:
        raise ValueError(f"{KERNEL_ENV} must be one of {', '.join(KERNELS)}, not {choice!r}")
    tail_uniforms = None if choice == "numpy" else _numba_tail_uniforms()
    if tail_uniforms is not None:
        return partial(_simulate_numba, tail_uniforms)
    if choice == "numba":
        raise ImportError(f"{KERNEL_ENV}=numba needs numba: pip install 'signalrisk[fast]'")
    return _simulate_numpy


def simulate_var(
    means: FloatArray, stds: FloatArray, d: int, seed: int, resource_index: int = 0
) -> VarEstimates:
    """VaR of every signal of a batch on one resource; signal j uses stream (seed, resource, j)."""
    if d < 1:
        raise ValueError("d must be at least 1")
    return _kernel()(means, stds, d, seed, resource_index)


def reference_var(gen: np.random.Generator, mean: float, std: float, d: int) -> tuple[float, float]:
    """The plain method, for tests: map all ``d`` draws, sort descending, index as the seed did."""
    u = gen.random(d)
    sims = sorted((mean + std * _INV_CDF(_open_unit(float(x))) for x in u), reverse=True)
    return sims[int(0.95 * d)], sims[int(0.99 * d)]

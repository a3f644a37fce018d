"""Fused CPU kernels for KL multiplicative updates and the KL objective (numba).

On a CPU the KL update is bound by memory traffic: PyTorch materialises ``W H`` and
``V / (W H)`` for every restart and reads them back, and on small catalogues each of its
operations costs more in dispatch than in arithmetic. These kernels run a restart's
iterations in one compiled loop that visits the catalogue one row at a time: the row's
``W H`` and ratio live in a scratch vector in L1 cache, so an update is one pass over the
catalogue.

The update of ``H`` given ``W`` is that of ``W^T`` given ``H^T`` on ``V^T``, so one routine,
:func:`_update`, does both: it runs over the rows of ``V`` (channel-major) for ``H`` and over
the rows of ``V^T`` (sample-major) for ``W``, and every inner loop is a contiguous
multiply-add that the compiler vectorises (no horizontal sums).

With ``solver="cd"`` an iteration is instead a sweep of coordinate descent (Hsieh and Dhillon
2011), :func:`_cd_update`, also one routine for both factors: it takes the columns of ``U`` a
tile at a time, so the tile's ``X`` and ``W H`` stay in cache while each row of ``U`` takes its
Newton step; at every check of the stopping rule after the first, each restart also tries an
extrapolated point (:func:`sigfactor.models._driver.extrapolate`, the same rule in :func:`_runs`).

The arithmetic is that of :func:`sigfactor.models.nmf.kl_step` (same updates, same
epsilons), summed in a different order, so the two agree to rounding. Each restart's
result depends only on its own data and starting point: restarts split over threads, or
run alone, give bitwise identical results.

Layouts (all C-contiguous, one dtype): ``V`` ``(B, channels, samples)`` and ``Vt``
``(B, samples, channels)`` (the same catalogues in both orders), ``Wt`` ``(R, k, channels)``,
``H`` ``(R, k, samples)``; ``cat[r]`` is the catalogue of restart ``r``. :func:`fit_kl` pads
``V`` and ``H`` with zero samples to whole vector registers (:func:`_pad_samples`); ``Vt``
keeps the real samples, and the kernels take the sample count from it.
"""
from __future__ import annotations

import os
import platform
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from functools import partial
from typing import NamedTuple

import numba
import numba.core.compiler
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._base import CD_KEEP, EXTRAPOLATION, warn_not_converged

_FAST = {"nsz", "arcp", "afn"}
"""fastmath without ``contract``, ``reassoc``, ``nnan`` and ``ninf``. Without ``contract`` LLVM
may not fuse a multiply and an add on its own: it made those choices differently for code
compiled in the process and code loaded from numba's cache (measured: W differed by 1e-4 after
50 float32 iterations), so the first run after a compile disagreed with every later one; fused
multiply-adds are written out (:func:`_fma`). ``reassoc`` did the same to sums: LLVM split the
normalising sums and the loss into partial sums differently in the two (float64 W and H 2e-16
apart after one iteration, 1e-14 after 60); the sums are written so that none needs
reassociating (:func:`_row_sum`, :func:`_restart_loss`). ``nnan``/``ninf`` let LLVM assume no
NaN or infinity and fold away the stopping rule's ``isfinite`` check: an overflowing catalogue
then marked its restarts converged with an infinite loss."""
_LANES = 16
"""Running sums of :func:`_restart_loss` (per sample) and :func:`_row_sum`: lane ``l`` adds
entries ``l``, ``l + 16``, ..., so the order is fixed in the code and the loop vectorises
without reassociation."""


CD_COLUMNS = (512, 128)
"""Columns of ``U`` per tile of :func:`_cd_update` when it updates ``H`` (samples) and ``W``
(channels)."""

_JIT = dict(nogil=True, fastmath=_FAST, error_model="numpy", cache=True)


class _NoAliasCompiler(numba.core.compiler.CompilerBase):
    """numba's nopython pipeline, with every array argument marked ``noalias`` (C's
    ``restrict``): the function promises that no two of its arrays share memory.

    Without it LLVM must assume that a store to one array may change another. The pass of
    :func:`_cd_update` that moves ``P`` and sums ``g``, ``h`` and the bound writes four arrays,
    more than LLVM checks for overlap at run time, so as one pass it stayed scalar (17 ms per
    sweep at PCAWG's shape, rank 20); it had been split into three passes that each
    vectorised, with ``1 / P`` stored between them (5.0 ms). As one pass with this promise it
    vectorises: 2.9 ms per sweep (PCAWG, rank 20, float32, 2 restarts on 2 threads, Intel
    Xeon; 1.5-1.8 times as fast as the three passes at ranks 5-25). The arithmetic is the
    same, in the same order, so ``W`` and ``H`` are bitwise those of the three passes. The
    multiplicative update (:func:`_update`) vectorises without it and gains nothing.
    """

    def define_pipelines(self):
        self.state.flags.noalias = True
        return [numba.core.compiler.DefaultPassBuilder.define_nopython_pipeline(self.state)]


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``llvm.fma``; vectorised with the loops around it)."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


@intrinsic
def _fmax(typingctx, a, b):
    """The larger of ``a`` and ``b`` (LLVM's ``llvm.maxnum``; vectorised with the loops around
    it, where a compare and select between stored values was not)."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maxnum", [ty], ir.FunctionType(ty, [ty, ty]))
        return builder.call(fn, args)

    return a(a, b), codegen


_X86 = platform.machine().lower() in {"x86_64", "amd64", "i386", "i686"}
_FLUSH = 0x8040
"""MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags."""


def _mxcsr_call(builder, op: str, value=None):
    """Emit x86's ``stmxcsr`` (returns the 32-bit MXCSR) or ``ldmxcsr`` of ``value``."""
    i32, ptr = ir.IntType(32), ir.IntType(8).as_pointer()
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr]), f"llvm.x86.sse.{op}")
    slot = cgutils.alloca_once(builder, i32)
    if value is not None:
        builder.store(value, slot)
    builder.call(fn, [builder.bitcast(slot, ptr)])
    return builder.load(slot) if value is None else None


@intrinsic
def _mxcsr(typingctx, bits):
    """Set the flags ``bits`` in the thread's MXCSR (x86's SSE/AVX control word) and return
    its previous value; ``_mxcsr(0)`` reads it, :func:`_restore_mxcsr` puts a value back.

    The kernels run with subnormal numbers flushed to zero. Multiplicative updates drive
    entries of ``W`` and ``H`` towards 0 without reaching it, and on Intel cores every
    operation on a subnormal float takes a microcode assist of about a hundred cycles.
    Measured on an Intel Xeon (model 207, AVX-512), PCAWG at rank 20, float32, 8 restarts,
    2 threads (``benchmarks/bench_overrelaxed.py --ranks 20 --gammas 1.0 --solvers mu cd``):
    the multiplicative update took 732.7 s with subnormals and 58.5 s flushed (68,880 and
    63,570 iterations: an entry flushed to 0 stays 0 under a multiplicative update, where a
    subnormal one could still grow, so the paths part); coordinate descent, which rarely
    makes them, 25.7 and 27.4 s in the same iterations. A subnormal float32 is below
    1.2e-38 (float64: 2.2e-308). Elsewhere than x86 it does nothing and returns 0.
    """
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        if not _X86:
            return context.get_constant(types.int64, 0)
        before = _mxcsr_call(builder, "stmxcsr")
        _mxcsr_call(builder, "ldmxcsr", builder.or_(before, builder.trunc(args[0], before.type)))
        return builder.zext(before, ir.IntType(64))

    return types.int64(bits), codegen


@intrinsic
def _restore_mxcsr(typingctx, value):
    """Put back the MXCSR value ``value`` that :func:`_mxcsr` returned (x86 only)."""
    if not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        if _X86:
            _mxcsr_call(builder, "ldmxcsr", builder.trunc(args[0], ir.IntType(32)))
        return context.get_dummy_value()

    return types.none(value), codegen


@numba.njit(inline="always", **_JIT)
def _lincomb(rows, coef, col, r, k):
    """``r = sum_{c < k} coef[c, col] * rows[c, :]`` (``k >= 1``), four rows per pass over ``r``."""
    size = rows.shape[1]
    a0 = coef[0, col]
    for t in range(size):
        r[t] = rows[0, t] * a0
    c = 1
    while c + 4 <= k:
        a0, a1, a2, a3 = coef[c, col], coef[c + 1, col], coef[c + 2, col], coef[c + 3, col]
        for t in range(size):
            r[t] = _fma(rows[c + 3, t], a3, _fma(rows[c + 2, t], a2, _fma(rows[c + 1, t], a1,
                                                                           _fma(rows[c, t], a0, r[t]))))
        c += 4
    while c < k:
        a0 = coef[c, col]
        for t in range(size):
            r[t] = _fma(rows[c, t], a0, r[t])
        c += 1


@numba.njit(inline="always", **_JIT)
def _ratio_row(X, a, F, U, eps, r):
    """``r = X[a, :] / max((F^T U)[a, :], eps)``: the last four signatures' terms are added in
    the pass that divides, so ranks up to four take a single pass over ``r``."""
    k, size = U.shape
    if k > 4:
        c = k - 4
        _lincomb(U, F, a, r, c)
        b0, b1, b2, b3 = F[c, a], F[c + 1, a], F[c + 2, a], F[c + 3, a]
        for t in range(size):
            d = _fma(U[c + 3, t], b3, _fma(U[c + 2, t], b2, _fma(U[c + 1, t], b1, _fma(U[c, t], b0, r[t]))))
            r[t] = X[a, t] / (d if d > eps else eps)
    elif k == 4:  # ranks 1 to 4 spelled out: constant row indices let the loops vectorise
        b0, b1, b2, b3 = F[0, a], F[1, a], F[2, a], F[3, a]
        for t in range(size):
            d = _fma(U[3, t], b3, _fma(U[2, t], b2, _fma(U[1, t], b1, U[0, t] * b0)))
            r[t] = X[a, t] / (d if d > eps else eps)
    elif k == 3:
        b0, b1, b2 = F[0, a], F[1, a], F[2, a]
        for t in range(size):
            d = _fma(U[2, t], b2, _fma(U[1, t], b1, U[0, t] * b0))
            r[t] = X[a, t] / (d if d > eps else eps)
    elif k == 2:
        b0, b1 = F[0, a], F[1, a]
        for t in range(size):
            d = _fma(U[1, t], b1, U[0, t] * b0)
            r[t] = X[a, t] / (d if d > eps else eps)
    else:
        b0 = F[0, a]
        for t in range(size):
            d = U[0, t] * b0
            r[t] = X[a, t] / (d if d > eps else eps)


@numba.njit(inline="always", **_JIT)
def _accumulate(num, coef, col, r):
    """``num[c, :] += coef[c, col] * r`` for every row ``c`` (one row per loop: stores to
    several rows of one array in a loop would not vectorise)."""
    k, size = num.shape
    for c in range(k):
        a = coef[c, col]
        for t in range(size):
            num[c, t] = _fma(a, r[t], num[c, t])


@numba.njit(inline="always", **_JIT)
def _row_sum(F, c, p, acc):
    """``F[c, :p].sum()`` in :data:`_LANES` running sums, then those in order: vectorised, in
    an order fixed by the code. ``acc`` is scratch of :data:`_LANES` entries."""
    zero = F[0, 0] * 0
    for lane in range(_LANES):
        acc[lane] = zero
    a = 0
    while a + _LANES <= p:
        for lane in range(_LANES):
            acc[lane] += F[c, a + lane]
        a += _LANES
    total = zero
    for lane in range(_LANES):
        total += acc[lane]
    while a < p:
        total += F[c, a]
        a += 1
    return total


@numba.njit(**_JIT)
def _update(X, F, U, eps, r, num, scale, acc, gamma):
    """One multiplicative KL update of ``U`` for ``X ~ F^T U``, in place.

    ``X`` is ``(p, q)``, ``F`` ``(k, p')`` (fixed, ``p' >= p``: only its first ``p`` columns
    are read), ``U`` ``(k, q)``: ``U <- U * ((F (X / F^T U)) / (F 1)) ** gamma``. For ``H``:
    ``X = V``, ``F = W^T``, ``U = H``; for ``W^T``: ``X = V^T``, ``F = H``, ``U = W^T``. ``r``
    has ``q`` entries, ``num`` is ``(k, q)``, ``scale`` ``k``, ``acc`` :data:`_LANES` (scratch
    of :func:`_row_sum`). ``gamma = 1`` is Lee and Seung's
    update; above 1 it is over-relaxed (:func:`sigfactor.models.nmf.kl_step`).
    """
    p = X.shape[0]
    k = F.shape[0]
    q = U.shape[1]
    zero = U[0, 0] * 0
    for c in range(k):
        s = _row_sum(F, c, p, acc)
        scale[c] = s if s > eps else eps
        for t in range(q):
            num[c, t] = zero
    for a in range(p):
        _ratio_row(X, a, F, U, eps, r)
        _accumulate(num, F, a, r)
    if gamma == 1:
        for c in range(k):
            for t in range(q):
                U[c, t] *= num[c, t] / scale[c]
    else:
        for c in range(k):
            for t in range(q):
                f = num[c, t] / scale[c]
                U[c, t] *= _fast_exp(gamma * _fast_log(f)) if f > 0 else f


@numba.njit(pipeline_class=_NoAliasCompiler, **_JIT)
def _cd_update(X, F, U, eps, P, Xs, Us, sums, top, step, scale, acc):
    """One sweep of coordinate descent over ``U`` for ``X ~ F^T U``, in place.

    Shapes as in :func:`_update`. Each row ``c`` of ``U`` in turn takes one projected Newton
    step on the KL divergence with the other rows fixed (Hsieh and Dhillon 2011, KDD, section
    4): with ``P = max(F^T U, eps)``, ``g = sum_a F[c, a] (1 - X[a] / P[a])`` and
    ``h = sum_a F[c, a]^2 X[a] / P[a]^2``, ``U[c] <- max(U[c] - g / h, 0)`` (0 where ``h = 0``
    and ``g > 0``: the divergence then grows with ``U[c]``), and ``P`` moves with it.

    A bare Newton step can raise the divergence: where ``g > 0`` it overshoots the minimum
    (the curvature grows as ``U[c]`` falls). On the breast genomes from the random start every
    fit uses, bare steps left a divergence (summed) of 1.29 million after 8 sweeps at rank 1,
    where bounded ones reached 49,198; at rank 2 the divergence rose from the third sweep to
    the fourth (349,000 to 885,000). So no step lowers an entry of ``P`` with ``X > 0`` below
    :data:`~._base.CD_KEEP` (3/4) of itself: ``U[c]`` falls by at most
    ``(1 - CD_KEEP) / max_a (F[c, a] / P[a])``. On that interval each term's curvature is at
    most ``1 / CD_KEEP^2 < 2`` times its value at the start, which makes the step a descent
    step (the quadratic bound with twice the curvature is negative from 0 to the Newton
    point); where ``g < 0`` the curvature falls as ``U[c]`` grows and the Newton step stops
    short of the minimum. ``U[c]`` still reaches 0 in one step where its share of every
    such entry is at most a quarter. On PCAWG the bound changed the sweeps to the stopping
    rule little.

    The columns of ``U`` are independent, so they are taken ``w`` at a time (a tile), each
    row's step for the whole tile at once: one pass over the tile per row moves ``P`` by the
    previous row's step and sums this row's ``g``, ``h`` and bound. Scratch: ``P`` and ``Xs``
    ``(p, w)`` (the tile's), ``Us`` ``(k, w)``, ``sums`` ``(2, w)`` (``g``'s sum and ``h``),
    ``top`` and ``step`` ``w``, ``scale`` ``k``, ``acc`` :data:`_LANES`; no two arguments may
    share memory (:class:`_NoAliasCompiler`). :func:`sigfactor.models.nmf.kl_cd_step` is the
    same sweep in PyTorch.
    """
    p = X.shape[0]
    k = F.shape[0]
    q = U.shape[1]
    w = P.shape[1]
    zero = U.dtype.type(0)
    one = U.dtype.type(1)
    drop = U.dtype.type(1 - CD_KEEP)
    for c in range(k):
        scale[c] = _row_sum(F, c, p, acc)
    for tile in range(-(-q // w)):
        t0 = tile * w
        width = min(w, q - t0)
        for a in range(p):
            for t in range(width):
                Xs[a, t] = X[a, t0 + t]
        for c in range(k):
            for t in range(width):
                Us[c, t] = U[c, t0 + t]
        for a in range(p):            # P = max(F^T U, eps) on the tile
            _lincomb(Us, F, a, P[a], k)
            for t in range(width):
                P[a, t] = P[a, t] if P[a, t] > eps else eps
        for t in range(width):
            step[t] = zero
        for c in range(k):
            prev = c - 1 if c > 0 else 0
            for t in range(width):
                sums[0, t] = zero
                sums[1, t] = zero
                top[t] = zero
            for a in range(p):        # P moves by the previous row's step; this row's g and h
                f, g = F[c, a], F[prev, a]
                f2 = f * f
                for t in range(width):
                    d = _fma(step[t], g, P[a, t])
                    d = d if d > eps else eps
                    P[a, t] = d
                    inv = one / d
                    x = Xs[a, t]
                    r = x * inv
                    sums[0, t] = _fma(f, r, sums[0, t])
                    sums[1, t] = _fma(f2, r * inv, sums[1, t])
                    top[t] = _fmax(top[t], f * inv if x > 0 else zero)
            for t in range(width):
                u = Us[c, t]
                grad = scale[c] - sums[0, t]
                curv = sums[1, t]
                most = top[t]
                if curv > 0:
                    new = u - grad / curv
                else:
                    new = zero if grad > 0 else u
                if most > 0:      # no entry of P with X > 0 falls below CD_KEEP of itself
                    low = u - drop / most
                    new = new if new > low else low
                new = new if new > 0 else zero
                step[t] = new - u
                Us[c, t] = new
        for c in range(k):
            for t in range(width):
                U[c, t0 + t] = Us[c, t]


@numba.njit(**_JIT)
def _cd_sweeps(X, F, U, eps, sweeps, cols):
    """``sweeps`` sweeps of :func:`_cd_update` over ``U`` for ``X ~ F^T U`` with ``F`` fixed,
    ``cols`` columns per tile, subnormal numbers flushed as in :func:`_runs`."""
    k, q = U.shape
    w = min(q, cols)
    P = np.empty((2, X.shape[0], w), dtype=U.dtype)
    cd = np.empty((k + 4, w), dtype=U.dtype)
    scale = np.empty(k, dtype=U.dtype)
    acc = np.empty(_LANES, dtype=U.dtype)
    saved = _mxcsr(_FLUSH)
    for _ in range(sweeps):
        _cd_update(X, F, U, eps, P[0], P[1], cd[4:], cd[:2], cd[2], cd[3], scale, acc)
    _restore_mxcsr(saved)


def cd_sweeps(Ft: np.ndarray, X: np.ndarray, U: np.ndarray, sweeps: int, eps: float) -> None:
    """Coordinate descent on ``U >= 0`` for ``X ~ Ft^T U`` with ``Ft`` fixed, in place.

    Each sweep gives every row of ``U`` in turn one bounded Newton step on the generalized KL
    divergence (:func:`_cd_update`, the sweep that updates ``H`` in :func:`kl_run` with
    ``solver="cd"``); the columns of ``U`` are independent problems.

    Parameters
    ----------
    Ft : ndarray, shape (k, p)
        Fixed factor, transposed (signatures as rows), C-contiguous.
    X : ndarray, shape (p, q)
        Data, C-contiguous, ``Ft``'s dtype.
    U : ndarray, shape (k, q)
        Updated in place; C-contiguous, ``Ft``'s dtype.
    sweeps : int
    eps : float
        Floor of ``Ft^T U`` and of the curvature's denominators.

    Raises
    ------
    ValueError
        If ``U`` may share memory with ``X`` or ``Ft`` (the compiled sweep assumes it does not).
    """
    if np.may_share_memory(U, X) or np.may_share_memory(U, Ft):
        raise ValueError("cd_sweeps: U shares memory with X or Ft; expected a separate array to update.")
    _cd_sweeps(X, Ft, U, U.dtype.type(eps), int(sweeps), CD_COLUMNS[0])


def _fast_log(x):
    """Natural logarithm, vectorisable inside compiled loops (see the overload below)."""
    return np.log(x)


@intrinsic
def _bits(typingctx, x):
    """Reinterpret a float32/float64 as int32/int64."""
    width = 32 if x == types.float32 else 64

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(width))

    return (types.int32 if width == 32 else types.int64)(x), codegen


@intrinsic
def _float(typingctx, b):
    """Reinterpret an int32/int64 as float32/float64."""
    single = b == types.int32

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType() if single else ir.DoubleType())

    return (types.float32 if single else types.float64)(b), codegen


@overload(_fast_log, jit_options=dict(fastmath=_FAST, error_model="numpy"))
def _fast_log_impl(x):
    """``x = 2^e m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` read from the bits, and
    ``log m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, ``|s| < 0.172``, by its odd series: to
    ``s^9`` in float32 (relative error below 2e-7, absolute below 1e-9 near 1), to ``s^21`` in
    float64. numba has no vectorised ``log`` without Intel's SVML; this one vectorises.
    """
    if x == types.float32:
        def impl(x):
            b = _bits(x)
            e = ((b >> 23) & 0xFF) - 127
            m = _float(np.int32((b & 0x7FFFFF) | 0x3F800000))
            big = m > np.float32(1.4142135)
            m = np.float32(0.5) * m if big else m
            e = e + 1 if big else e
            one = np.float32(1.0)
            s = (m - one) / (m + one)
            s2 = s * s
            series = s2 * (np.float32(1 / 3) + s2 * (np.float32(1 / 5) + s2 * (np.float32(1 / 7)
                                                                                  + s2 * np.float32(1 / 9))))
            return np.float32(e) * np.float32(0.6931471805599453) + np.float32(2.0) * s * (one + series)
        return impl
    if x == types.float64:
        def impl(x):
            b = _bits(x)
            e = ((b >> 52) & 0x7FF) - 1023
            m = _float(np.int64((b & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000))
            big = m > 1.4142135623730951
            m = 0.5 * m if big else m
            e = e + 1 if big else e
            s = (m - 1.0) / (m + 1.0)
            s2 = s * s
            series = 1.0 / 21.0
            for d in (19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0):
                series = 1.0 / d + s2 * series
            return e * 0.6931471805599453 + 2.0 * s * (1.0 + s2 * series)
        return impl
    return None


def _fast_exp(x):
    """Exponential, vectorisable inside compiled loops (see the overload below)."""
    return np.exp(x)


@overload(_fast_exp, jit_options=dict(fastmath=_FAST, error_model="numpy"))
def _fast_exp_impl(x):
    """``exp(x) = 2^n exp(s)`` with ``n = round(x / log 2)``, ``|s| <= log(2) / 2`` and
    ``exp(s)`` by its Taylor series: to ``s^7`` in float32, to ``s^13`` in float64; ``2^n`` is
    written into the exponent bits. ``s`` is reduced with fused multiply-adds, which fastmath
    may not reassociate (written as ``x - n hi - n lo`` the reduction lost its low part). ``x`` is
    clamped to the range where ``2^n`` is a normal number (about +-87 in float32, +-708 in
    float64). Used for the over-relaxed update's power only.
    """
    if x == types.float32:
        def impl(x):
            lo, hi = np.float32(-87.0), np.float32(88.0)
            x = lo if x < lo else (hi if x > hi else x)
            n = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
            s = _fma(-n, np.float32(1.4286068203094172e-06), _fma(-n, np.float32(0.693145751953125), x))
            p = np.float32(1 / 5040)
            for c in (1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0, 1.0):
                p = np.float32(c) + s * p
            return p * _float(np.int32((np.int32(n) + 127) << 23))
        return impl
    if x == types.float64:
        def impl(x):
            x = -708.0 if x < -708.0 else (708.0 if x > 708.0 else x)
            n = np.floor(x * 1.4426950408889634 + 0.5)
            s = _fma(-n, 1.9082149292705877e-10, _fma(-n, 0.6931471803691238, x))
            p = 1.0 / 6227020800.0
            for c in (1 / 479001600, 1 / 39916800, 1 / 3628800, 1 / 362880, 1 / 40320, 1 / 5040, 1 / 720,
                      1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0, 1.0):
                p = c + s * p
            return p * _float(np.int64((np.int64(n) + 1023) << 52))
        return impl
    return None


@numba.njit(inline="always", **_JIT)
def _kl_term(v, d, eps):
    """One entry's ``v log(v / d) - v + d``, ``d`` floored at ``eps`` (``0 log 0 = 0``)."""
    d = d if d > eps else eps
    return v * _fast_log((v if v > 0 else d) / d) - v + d


@numba.njit(**_JIT)
def _restart_loss(Vt, Wt, H, eps, r):
    """Sum over entries of ``V log(V / W H) - V + W H`` (``W H`` floored at ``eps``): each
    sample's terms summed in the working dtype (in :data:`_LANES` running sums, then those in
    order), the samples in float64."""
    n, m = Vt.shape
    zero = Wt[0, 0] * 0
    acc = np.empty(_LANES, dtype=Wt.dtype)
    total = 0.0
    for j in range(n):
        _lincomb(Wt, H, j, r, Wt.shape[0])
        for lane in range(_LANES):
            acc[lane] = zero
        i = 0
        while i + _LANES <= m:
            for lane in range(_LANES):
                acc[lane] += _kl_term(Vt[j, i + lane], r[i + lane], eps)
            i += _LANES
        part = zero
        for lane in range(_LANES):
            part += acc[lane]
        while i < m:
            part += _kl_term(Vt[j, i], r[i], eps)
            i += 1
        total += part
    return total


@numba.njit(**_JIT)
def _losses(V, Vt, cat, Wt, H, first, last, eps, out):
    saved = _mxcsr(_FLUSH)
    r = np.empty(Wt.shape[2], dtype=Wt.dtype)
    for b in range(first, last):
        out[b] = _restart_loss(Vt[cat[b]], Wt[b], H[b], eps, r)
    _restore_mxcsr(saved)


@numba.njit(inline="always", **_JIT)
def _extrapolated(U, Up, beta, out):
    """``out = max(U + beta (U - Up), 0)``, then ``Up = U``."""
    k, q = U.shape
    zero = U.dtype.type(0)
    for c in range(k):
        for t in range(q):
            u = U[c, t]
            v = _fma(beta, u - Up[c, t], u)
            out[c, t] = v if v > zero else zero
            Up[c, t] = u


@numba.njit(**_JIT)
def _runs(V, Vt, cat, Wt, H, first, last, eps, floor, tol, check_every, max_iter, max_checks,
          n_iter, n_checks, loss, done, converged, trace, gamma, cd, cd_cols, ex, beta, Wp, Hp, schedule):
    """Restarts ``first .. last - 1`` for up to ``max_checks`` convergence checks each.

    The rule of :func:`sigfactor.models._driver.iterate`: every ``check_every`` iterations
    (fewer for the last, at ``max_iter``) the loss is taken in the working dtype; a restart
    whose relative change ``|L_prev - L| / max(L_prev, floor)`` is below ``tol``, or whose loss
    is not finite, is done. State, counters and the trace (column = check number) are updated
    in place, so a later call continues where this one stopped. An iteration is one
    multiplicative update of ``H`` then ``W`` (:func:`_update`), or with ``cd`` one sweep of
    coordinate descent over ``H`` then ``W`` (:func:`_cd_update`).

    With ``ex``, every check after the first first tries an extrapolated point
    (:func:`sigfactor.models._driver.extrapolate`, the same rule): ``max(U + beta (U - U_prev), 0)``
    for ``W`` and ``H``, ``U_prev`` (``Wp``, ``Hp``) being where the previous check's iterations
    ended; it is taken only if its loss is below the loss reached, and ``beta[b]`` then grows by
    ``schedule[0]`` up to ``schedule[1]``, else shrinks by ``schedule[2]`` down to ``schedule[3]``.
    """
    k, m = Wt.shape[1], Wt.shape[2]
    n = H.shape[2]
    r_h, num_h = np.empty(n, dtype=Wt.dtype), np.empty((k, n), dtype=Wt.dtype)
    r_w, num_w = np.empty(m, dtype=Wt.dtype), np.empty((k, m), dtype=Wt.dtype)
    scale = np.empty(k, dtype=Wt.dtype)
    acc = np.empty(_LANES, dtype=Wt.dtype)
    # scratch of _cd_update for a tile of CD_COLUMNS columns: P and X's tile; U's, the sums, bound and step
    w_h, w_w = (min(n, cd_cols[0]), min(m, cd_cols[1])) if cd else (1, 1)
    P_h, P_w = np.empty((2, m, w_h), dtype=Wt.dtype), np.empty((2, Vt.shape[1], w_w), dtype=Wt.dtype)
    cd_h, cd_w = np.empty((k + 4, w_h), dtype=Wt.dtype), np.empty((k + 4, w_w), dtype=Wt.dtype)
    Wc, Hc = (np.empty((k, m), dtype=Wt.dtype), np.empty((k, H.shape[2]), dtype=Wt.dtype)) if ex else (Wt[0], H[0])
    grow, most, shrink, least = schedule
    saved = _mxcsr(_FLUSH)
    for b in range(first, last):
        X, Xt, W_, H_ = V[cat[b]], Vt[cat[b]], Wt[b], H[b]
        checks = 0
        while checks < max_checks and not done[b]:
            steps = min(check_every, max_iter - n_iter[b])
            for _ in range(steps):
                if cd:
                    _cd_update(X, W_, H_, eps, P_h[0], P_h[1], cd_h[4:], cd_h[:2], cd_h[2], cd_h[3], scale, acc)
                    _cd_update(Xt, H_, W_, eps, P_w[0], P_w[1], cd_w[4:], cd_w[:2], cd_w[2], cd_w[3], scale, acc)
                else:
                    _update(X, W_, H_, eps, r_h, num_h, scale, acc, gamma)
                    _update(Xt, H_, W_, eps, r_w, num_w, scale, acc, gamma)
            n_iter[b] += steps
            cur = Wt.dtype.type(_restart_loss(Xt, W_, H_, eps, r_w) / (m * Xt.shape[0]))
            if ex and n_checks[b] == 0:
                Wp[b, :, :] = W_
                Hp[b, :, :] = H_
            elif ex:
                _extrapolated(W_, Wp[b], beta[b], Wc)
                _extrapolated(H_, Hp[b], beta[b], Hc)
                tried = Wt.dtype.type(_restart_loss(Xt, Wc, Hc, eps, r_w) / (m * Xt.shape[0]))
                if tried < cur:
                    W_[:, :] = Wc
                    H_[:, :] = Hc
                    cur = tried
                    beta[b] = min(beta[b] * grow, most)
                else:
                    beta[b] = max(beta[b] * shrink, least)
            before = loss[b]
            rel = abs(before - cur) / (before if before > floor else floor)
            loss[b] = cur
            n_checks[b] += 1
            trace[b, n_checks[b]] = cur
            converged[b] = rel < tol
            done[b] = converged[b] or not np.isfinite(cur) or n_iter[b] >= max_iter
            checks += 1
    _restore_mxcsr(saved)


def kl_losses(V: np.ndarray, Vt: np.ndarray, cat: np.ndarray, Wt: np.ndarray, H: np.ndarray,
              eps: float, threads: int = 1) -> np.ndarray:
    """Per-entry generalized KL divergence of each restart (float64, shape ``(R,)``).

    The quantity of :func:`sigfactor.models._driver.kl` on ``W H``, computed sample by sample
    without forming ``W H``. Arguments as in :func:`kl_run`.
    """
    out = np.empty(Wt.shape[0], dtype=np.float64)
    _over_restarts(_losses, np.arange(Wt.shape[0]), threads, (V, Vt, cat, Wt, H), (Wt.dtype.type(eps), out))
    return out / (Vt.shape[1] * Vt.shape[2])


class Runs:
    """Per-restart counters of :func:`kl_run`, continued across calls (arrays of length R).

    With ``like`` (the fit's ``Wt`` and ``H``) it also holds the extrapolation's state: each
    restart's ``beta`` and where its previous check's iterations ended (``Wp``, ``Hp``).
    """

    def __init__(self, loss0: np.ndarray, max_iter: int, check_every: int,
                 like: tuple[np.ndarray, np.ndarray] | None = None):
        R = loss0.shape[0]
        self.extrapolate = like is not None
        self.beta = np.full(R, EXTRAPOLATION[0], dtype=loss0.dtype)
        shapes = ((1, 1, 1), (1, 1, 1)) if like is None else (like[0].shape, like[1].shape)
        self.Wp, self.Hp = (np.zeros(shape, dtype=loss0.dtype) for shape in shapes)
        self.n_iter = np.zeros(R, dtype=np.int64)
        self.n_checks = np.zeros(R, dtype=np.int64)
        self.loss = loss0.copy()
        self.done = np.zeros(R, dtype=np.bool_)
        self.converged = np.zeros(R, dtype=np.bool_)
        self.trace = np.full((R, -(-max_iter // check_every) + 1), np.nan, dtype=loss0.dtype)
        self.trace[:, 0] = loss0


def kl_run(V, Vt, cat, Wt, H, runs: Runs, *, eps: float, tol: float, check_every: int, max_iter: int,
           max_checks: int, threads: int = 1, gamma: float = 1.0, solver: str = "mu",
           restarts: np.ndarray | None = None) -> None:
    """Advance every unfinished restart by up to ``max_checks`` checks (see :func:`_runs`).

    Parameters
    ----------
    V, Vt : ndarray, shapes (B, channels, samples) and (B, samples, channels)
        The catalogues in both orders.
    cat : ndarray of int64, shape (R,)
        Catalogue index of each restart (all zeros when they share one catalogue).
    Wt, H : ndarray, shapes (R, k, channels) and (R, k, samples)
        Updated in place.
    runs : Runs
        Counters, losses and trace, and the extrapolation's state if it has one (then every
        check after the first tries an extrapolated point: :func:`_runs`); updated in place.
    eps : float
        Floor for ``W H`` and the normalising sums.
    tol, check_every, max_iter : float, int, int
        The driver's stopping rule.
    max_checks : int
        Checks per restart in this call (control returns to Python for progress reports).
    threads : int
        Restarts are handed to this many threads in small groups (the kernels release the
        GIL), so a slow restart does not hold up a whole share; no restart's result depends
        on which thread ran it.
    gamma : float
        Power of the multiplicative factor (:func:`_update`; 1: Lee and Seung's update).
    solver : {"mu", "cd"}
        Multiplicative updates (:func:`_update`) or coordinate descent (:func:`_cd_update`).
    restarts : ndarray of int, optional
        Advance only these (sorted) restarts, where not yet done.
    """
    dt = Wt.dtype.type
    # Compared in the working dtype, as the driver's tensors do.
    tail = (dt(eps), dt(np.finfo(Wt.dtype).eps), dt(tol), int(check_every), int(max_iter), int(max_checks),
            runs.n_iter, runs.n_checks, runs.loss, runs.done, runs.converged, runs.trace, dt(gamma),
            solver == "cd", CD_COLUMNS, runs.extrapolate, runs.beta, runs.Wp, runs.Hp,
            tuple(dt(x) for x in EXTRAPOLATION[1:]))
    todo = np.flatnonzero(~runs.done) if restarts is None else restarts[~runs.done[restarts]]
    _over_restarts(_runs, todo, threads, (V, Vt, cat, Wt, H), tail)


class KLFit(NamedTuple):
    """What :func:`fit_kl` returns (numpy arrays; shapes as :class:`~._driver.RunResult`)."""

    W: np.ndarray
    H: np.ndarray
    loss: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    trace: np.ndarray
    trace_iter: np.ndarray


def fit_kl(V: np.ndarray, W: np.ndarray, H: np.ndarray, *, max_iter: int, tol: float, check_every: int,
           progress=None, threads: int = 1, gamma: float = 1.0, solver: str = "mu",
           extrapolate: bool | None = None) -> KLFit:
    """KL NMF of every restart to convergence in the kernels, from initial ``W`` and ``H``.

    The stopping rule, counters and loss trace are those of :func:`~._driver.iterate`; a
    :class:`~._base.ConvergenceWarning` counts the restarts that reached ``max_iter``.

    Parameters
    ----------
    V : ndarray, shape (B, channels, samples)
        ``B`` 1 (shared by every restart) or R (one catalogue per restart); float32 or float64.
    W, H : ndarray, shapes (R, channels, k) and (R, k, samples)
        Initial values, in ``V``'s dtype (not modified).
    max_iter, tol, check_every : int, float, int
    progress : callable, optional
        Called with the number of iterations done, about every 1,000 iterations.
    threads : int
        Threads the restarts are spread over (results do not depend on it).
    gamma : float
        Power of the multiplicative factor, ``1 <= gamma < 2`` (:func:`_update`).
    solver : {"mu", "cd"}
        Multiplicative updates or coordinate descent (:func:`kl_run`); with ``"cd"`` an
        iteration is one sweep of coordinate descent over ``H`` then ``W``.
    extrapolate : bool, optional
        Try an extrapolated point at every check (:func:`sigfactor.models._driver.extrapolate`).
        By default, with ``"cd"`` only: with multiplicative updates an entry the step sets
        to 0 stays 0 for good.
    """
    extrapolate = solver == "cd" if extrapolate is None else bool(extrapolate)
    eps = float(np.finfo(V.dtype).eps)
    R, n = W.shape[0], V.shape[2]
    Xt = np.ascontiguousarray(V.transpose(0, 2, 1))
    X, H = _pad_samples(V, H)
    cat = np.zeros(R, dtype=np.int64) if V.shape[0] == 1 else np.arange(R, dtype=np.int64)
    Wt = np.array(W.transpose(0, 2, 1), dtype=V.dtype, order="C")      # a copy even at rank 1
    runs = Runs(kl_losses(X, Xt, cat, Wt, H, eps, threads).astype(V.dtype), max_iter, check_every,
                like=(Wt, H) if extrapolate else None)
    advance = partial(kl_run, X, Xt, cat, Wt, H, runs, eps=eps, tol=tol, check_every=check_every,
                      max_iter=max_iter, max_checks=max(1, 1000 // check_every), gamma=gamma, solver=solver)
    _drive(advance, runs, threads, progress)
    warn_not_converged(int((~runs.converged).sum()), R, max_iter, tol)
    n_cols = int(runs.n_checks.max()) + 1
    trace_iter = np.array([min(i * check_every, max_iter) for i in range(n_cols)], dtype=np.int64)
    return KLFit(W=np.ascontiguousarray(Wt.transpose(0, 2, 1)), H=np.ascontiguousarray(H[:, :, :n]),
                 loss=runs.loss, n_iter=runs.n_iter,
                 converged=runs.converged, trace=runs.trace[:, :n_cols].copy(), trace_iter=trace_iter)


def _drive(advance, runs: Runs, threads: int, progress=None) -> None:
    """Call ``advance`` (:func:`kl_run` with all but ``restarts`` and ``threads`` bound) until
    every restart is done, reporting the growth of the largest iteration count to ``progress``.

    On one thread every unfinished restart is advanced in turn, a share of checks at a time.
    On several, each restart's share is a task of its own on the pool, and a restart that is
    not done goes back on the queue as soon as its share ends: no thread waits for the others
    between shares, only at the very end. Advancing all restarts a share at a time in groups,
    the threads meeting after each share, kept 1.89 of the 2 cores busy: 100 restarts of
    coordinate descent on PCAWG at rank 20 (171,280 sweeps) took 266.4 s that way and 243.7 s
    this way, 2.00 cores busy (Intel Xeon, 2 threads). Each restart's result depends on its own
    data and start alone, so the order changes no bit (the same run's ``W``, ``H`` and
    iteration counts were bitwise equal).
    """
    reported = int(runs.n_iter.max())

    def report():
        nonlocal reported
        now = int(runs.n_iter.max())
        if progress is not None and now > reported:
            progress(now - reported)
        reported = max(reported, now)

    todo = np.flatnonzero(~runs.done)
    if threads <= 1 or todo.size <= 1:
        while not runs.done.all():
            advance(threads=1)
            report()
        return
    pool = _workers(int(threads))

    def share(b: int) -> int:
        advance(restarts=np.array([b]), threads=1)
        return b

    pending = {pool.submit(share, int(b)) for b in todo}
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for job in finished:
                b = job.result()
                if not runs.done[b]:
                    pending.add(pool.submit(share, b))
            report()
    except BaseException:       # an error or an interrupt: drop the shares not yet started
        for job in pending:
            job.cancel()
        raise


def _pad_samples(V: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``V`` and a copy of ``H`` with zero samples appended up to a multiple of 64 bytes.

    The update of ``H`` runs along the samples; with whole vector registers it needs no scalar
    remainder loop (21 samples in float32: one 16-wide vector and five scalar steps per pass).
    A zero sample is inert: its ratio is 0, so its ``H`` stays 0 from its zero start; the
    update of ``W`` and the loss read only the real samples (``V^T`` is not padded).
    """
    n = V.shape[2]
    lanes = 64 // V.dtype.itemsize
    n_pad = -(-n // lanes) * lanes
    X = np.zeros(V.shape[:2] + (n_pad,), dtype=V.dtype)
    X[:, :, :n] = V
    H_pad = np.zeros(H.shape[:2] + (n_pad,), dtype=V.dtype)
    H_pad[:, :, :n] = H
    return X, H_pad


_POOL: dict[int, ThreadPoolExecutor] = {}
# A forked child inherits the pools but not their threads: it must start its own.
os.register_at_fork(after_in_child=_POOL.clear)


def _workers(n: int) -> ThreadPoolExecutor:
    """A pool of ``n`` threads kept for the process (starting threads costs a millisecond each)."""
    if n not in _POOL:
        _POOL[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="sigfactor-kl")
    return _POOL[n]


def _over_restarts(kernel, todo: np.ndarray, threads: int, head: tuple, tail: tuple) -> None:
    """Run ``kernel(*head, first, last, *tail)`` over the restarts ``todo`` (sorted indices).

    With several threads the restarts go to the pool in groups of about a quarter of a
    thread's share, so a slow restart does not hold up a whole share.
    """
    threads = max(1, min(int(threads), todo.size))
    if threads == 1:
        if todo.size:
            kernel(*head, int(todo[0]), int(todo[-1]) + 1, *tail)
        return
    size = -(-todo.size // (4 * threads))
    groups = [(int(todo[i]), int(todo[min(i + size, todo.size) - 1]) + 1) for i in range(0, todo.size, size)]
    pool = _workers(threads)
    for job in [pool.submit(kernel, *head, a, b, *tail) for a, b in groups]:
        job.result()


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel for float32 and float64.

    ``scripts/setup.sh`` calls it once, so the first extraction does not wait for the compiler.
    """
    for dtype in (np.float32, np.float64):
        V = np.ones((1, 3, 2), dtype=dtype)
        Vt = np.ascontiguousarray(V.transpose(0, 2, 1))
        cat = np.zeros(1, dtype=np.int64)
        Wt, H = np.ones((1, 1, 3), dtype=dtype), np.ones((1, 1, 2), dtype=dtype)
        for solver in ("mu", "cd"):
            runs = Runs(kl_losses(V, Vt, cat, Wt, H, 1e-7).astype(dtype), 2, 1,
                        like=(Wt, H) if solver == "cd" else None)
            kl_run(V, Vt, cat, Wt, H, runs, eps=1e-7, tol=0.0, check_every=1, max_iter=2, max_checks=2,
                   solver=solver)
            if not (runs.done.all() and np.isfinite(runs.loss).all()):
                raise RuntimeError(f"sigfactor's KL kernels ({solver}) gave no finite loss in {np.dtype(dtype).name}")
        if dtype == np.float64:                      # the Poisson refit's (sigfactor.refit.refit_kl)
            cd_sweeps(Wt[0], V[0], H[0], 1, 1e-7)

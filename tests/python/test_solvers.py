"""sigfactor._solvers against scipy.optimize: linear_sum_assignment and nnls."""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize

from sigfactor import _solvers
from sigfactor._solvers import linear_sum_assignment, nnls


# --------------------------------------------------------------------------
# linear_sum_assignment
# --------------------------------------------------------------------------


def assert_same_assignment(cost, maximize=False):
    """Same rows, columns and dtype as SciPy (hence the same total)."""
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    ref_rows, ref_cols = optimize.linear_sum_assignment(cost, maximize=maximize)
    assert rows.dtype == ref_rows.dtype and cols.dtype == ref_cols.dtype
    assert_array_equal(rows, ref_rows)
    assert_array_equal(cols, ref_cols)


def _random_costs(rng, shape, kind):
    if kind == "uniform":
        return rng.random(shape)
    if kind == "normal":
        return rng.normal(size=shape) * 100.0
    if kind == "small_int":            # many ties
        return rng.integers(0, 3, size=shape).astype(float)
    if kind == "binary":
        return rng.integers(0, 2, size=shape).astype(float)
    if kind == "rounded":              # ties after rounding, negative entries
        return np.round(rng.normal(size=shape), 1)
    raise ValueError(kind)


KINDS = ["uniform", "normal", "small_int", "binary", "rounded"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("maximize", [False, True])
def test_lsap_square_matches_scipy(kind, maximize):
    rng = np.random.default_rng(100 + KINDS.index(kind))
    for n in range(1, 31):
        for _ in range(3):
            assert_same_assignment(_random_costs(rng, (n, n), kind), maximize)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("maximize", [False, True])
def test_lsap_rectangular_matches_scipy(kind, maximize):
    rng = np.random.default_rng(200 + KINDS.index(kind))
    for _ in range(60):
        p, q = (int(v) for v in rng.integers(1, 15, size=2))
        assert_same_assignment(_random_costs(rng, (p, q), kind), maximize)


@pytest.mark.parametrize("k", [1, 2, 5, 10, 20, 30])
def test_lsap_against_86_reference_signatures(k):
    # Cosine-like similarities of k de novo signatures against 86 COSMIC ones, both ways round.
    rng = np.random.default_rng(k)
    for _ in range(3):
        sim = rng.random((k, 86))
        for cost in (sim, sim.T):
            assert_same_assignment(cost, maximize=True)
            assert_same_assignment(-cost)
        ties = np.round(sim, 1)
        assert_same_assignment(ties, maximize=True)
        assert_same_assignment(ties.T, maximize=True)


def test_lsap_random_seeds_optimal_total():
    rng = np.random.default_rng(7)
    for _ in range(300):
        p, q = (int(v) for v in rng.integers(1, 12, size=2))
        cost = rng.integers(-3, 4, size=(p, q)).astype(float)
        rows, cols = linear_sum_assignment(cost)
        ref_rows, ref_cols = optimize.linear_sum_assignment(cost)
        assert cost[rows, cols].sum() == cost[ref_rows, ref_cols].sum()
        assert len(set(rows.tolist())) == len(set(cols.tolist())) == min(p, q)
        assert_array_equal(rows, np.sort(rows))


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (3, 7), (7, 3), (1, 9), (9, 1)])
@pytest.mark.parametrize("maximize", [False, True])
def test_lsap_constant_matrix(shape, maximize):
    cost = np.full(shape, 2.5)
    assert_same_assignment(cost, maximize)
    if shape[0] == shape[1]:
        # SciPy returns the identity for a constant matrix; so do we.
        assert_array_equal(linear_sum_assignment(cost, maximize)[1], np.arange(shape[0]))


def test_lsap_small_and_hand_checked():
    rows, cols = linear_sum_assignment([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    assert_array_equal(rows, [0, 1, 2])
    assert_array_equal(cols, [1, 0, 2])
    assert_array_equal(linear_sum_assignment([[3.0]])[1], [0])
    rows, cols = linear_sum_assignment([[5.0, 1.0, 4.0, 1.0]])      # 1 x q: first minimum
    assert_array_equal(rows, [0])
    assert_array_equal(cols, [1])
    rows, cols = linear_sum_assignment([[5.0], [1.0], [4.0]])      # q x 1
    assert_array_equal(rows, [1])
    assert_array_equal(cols, [0])
    for cost in ([[5.0, 1.0, 4.0, 1.0]], [[5.0], [1.0], [4.0]], [[True, False], [False, True]],
                 np.array([[3, 1], [2, 7]], dtype=np.int32)):
        assert_same_assignment(cost)
        assert_same_assignment(cost, maximize=True)


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0)])
def test_lsap_empty(shape):
    rows, cols = linear_sum_assignment(np.zeros(shape))
    ref_rows, ref_cols = optimize.linear_sum_assignment(np.zeros(shape))
    assert rows.shape == cols.shape == ref_rows.shape == (0,)
    assert rows.dtype == cols.dtype == ref_rows.dtype


@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_lsap_non_finite_raises(bad, shown):
    cost = np.ones((3, 4))
    cost[1, 2] = bad
    message = rf"cost must contain only finite values; got {shown} at index \(1, 2\)"
    with pytest.raises(ValueError, match=message):
        linear_sum_assignment(cost)


def test_lsap_bad_shapes_and_types():
    with pytest.raises(ValueError, match="cost must be a 2-D array; got an array of shape"):
        linear_sum_assignment(np.ones(3))
    with pytest.raises(ValueError, match="cost must be a 2-D array"):
        linear_sum_assignment(np.ones((2, 2, 2)))
    with pytest.raises(TypeError, match="cost must be an array of real numbers"):
        linear_sum_assignment(np.ones((2, 2), dtype=complex))


def test_lsap_large_wide_and_tall_matrices():
    rng = np.random.default_rng(3)
    assert_same_assignment(rng.random((4, 300)))
    assert_same_assignment(rng.integers(0, 3, size=(300, 5)).astype(float), maximize=True)


# --------------------------------------------------------------------------
# nnls
# --------------------------------------------------------------------------


def assert_same_nnls(A, b, *, unique=True):
    x, rnorm = nnls(A, b)
    ref_x, ref_rnorm = optimize.nnls(A, b)
    assert x.shape == ref_x.shape and x.dtype == np.float64
    assert (x >= 0).all()
    assert isinstance(rnorm, float)
    scale = max(1.0, float(np.linalg.norm(b)))
    assert abs(rnorm - ref_rnorm) <= 1e-8 * scale
    assert_allclose(rnorm, np.linalg.norm(A @ x - b), rtol=1e-12, atol=1e-12 * scale)
    # The fit A @ x is unique even when x is not.
    assert_allclose(A @ x, A @ ref_x, rtol=0, atol=1e-8 * scale)
    if unique:
        assert_allclose(x, ref_x, rtol=1e-8, atol=1e-8 * max(1.0, float(np.abs(ref_x).max())))
    return x, rnorm


@pytest.mark.parametrize("n", list(range(1, 21)))
def test_nnls_random_matches_scipy(n):
    rng = np.random.default_rng(n)
    for trial in range(15):
        A = rng.random((96, n)) if trial % 2 else rng.normal(size=(96, n))
        b = rng.normal(size=96) if trial % 3 else A @ rng.normal(size=n) + 0.1 * rng.normal(size=96)
        assert_same_nnls(A, b)


@pytest.mark.parametrize("n", [3, 8, 20])
def test_nnls_exact_fit_with_zeros(n):
    # b in the column space, true solution with zeros: recovered exactly, rnorm ~ 0.
    rng = np.random.default_rng(1000 + n)
    for _ in range(10):
        A = rng.random((96, n))
        x_true = np.maximum(rng.normal(size=n), 0.0)
        x_true[0] = 0.0
        b = A @ x_true
        x, rnorm = assert_same_nnls(A, b)
        assert_allclose(x, x_true, rtol=1e-9, atol=1e-10)
        assert rnorm < 1e-10


@pytest.mark.parametrize("n", [2, 5, 12, 20])
def test_nnls_rank_deficient(n):
    rng = np.random.default_rng(2000 + n)
    for trial in range(12):
        A = rng.random((96, n))
        if trial % 2:
            A[:, -1] = A[:, 0]                          # duplicated column
        else:
            A[:, -1] = A[:, 0] + 0.5 * A[:, n // 2]     # column in the span of two others
        if trial % 3 == 0:
            b = A @ np.maximum(rng.normal(size=n), 0.0)  # b in the column space
        else:
            b = rng.random(96)
        assert_same_nnls(A, b, unique=False)
        # A zero column never enters.
        A[:, 1] = 0.0
        x, _ = assert_same_nnls(A, b, unique=False)
        assert x[1] == 0.0


def test_nnls_known_answers():
    A = np.array([[1, 0], [1, 0], [0, 1]])
    x, rnorm = nnls(A, np.array([2, 1, 1]))
    assert_allclose(x, [1.5, 1.0], rtol=1e-14)
    assert_allclose(rnorm, np.sqrt(0.5), rtol=1e-14)

    x, rnorm = nnls(A, np.array([-1, -1, -1]))
    assert_array_equal(x, [0.0, 0.0])
    assert_allclose(rnorm, np.sqrt(3.0), rtol=1e-14)

    # Orthogonal columns: x is the positive part of A.T @ b.
    x, rnorm = nnls(np.eye(3), [1.0, -2.0, 3.0])
    assert_allclose(x, [1.0, 0.0, 3.0], rtol=1e-14)
    assert_allclose(rnorm, 2.0, rtol=1e-14)

    # b = 0 gives x = 0.
    x, rnorm = nnls(np.ones((4, 2)), np.zeros(4))
    assert_array_equal(x, [0.0, 0.0])
    assert rnorm == 0.0

    # One column: x = max(a.b / a.a, 0).
    a = np.array([1.0, 2.0, 2.0])
    b = np.array([3.0, 1.0, 2.0])
    x, rnorm = nnls(a[:, None], b)
    assert_allclose(x, [9.0 / 9.0], rtol=1e-14)
    assert_allclose(rnorm, np.linalg.norm(b - a), rtol=1e-14)


def test_nnls_shapes_wide_and_column_b():
    rng = np.random.default_rng(5)
    A = rng.random((6, 10))                              # more unknowns than equations
    b = rng.random(6)
    assert_same_nnls(A, b, unique=False)
    x1, r1 = nnls(A, b[:, None])
    x2, r2 = nnls(A, b)
    assert_array_equal(x1, x2)
    assert r1 == r2


def test_nnls_maxiter():
    rng = np.random.default_rng(11)
    A = rng.normal(size=(96, 20))
    b = rng.normal(size=96)
    # The smallest maxiter that SciPy accepts is the smallest that we accept.
    limit = next(k for k in range(1, 200) if _scipy_nnls_converges(A, b, k))
    with pytest.raises(RuntimeError, match=f"nnls did not converge within maxiter={limit - 1}"):
        nnls(A, b, maxiter=limit - 1)
    assert_allclose(nnls(A, b, maxiter=limit)[0], optimize.nnls(A, b)[0], rtol=1e-8, atol=1e-10)


def _scipy_nnls_converges(A, b, maxiter):
    try:
        optimize.nnls(A, b, maxiter=maxiter)
    except RuntimeError:
        return False
    return True


def test_nnls_bad_input():
    A = np.ones((4, 2))
    with pytest.raises(ValueError, match="A and b must have the same number of rows"):
        nnls(A, np.ones(3))
    with pytest.raises(ValueError, match="A must be a 2-D array"):
        nnls(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match=r"b must be a 1-D array or a single column; got shape \(4, 2\)"):
        nnls(A, np.ones((4, 2)))
    A[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"A must contain only finite values; got nan at index \(2, 1\)"):
        nnls(A, np.ones(4))
    with pytest.raises(ValueError, match="b must contain only finite values; got inf at index 3"):
        nnls(np.ones((4, 2)), [0.0, 1.0, 2.0, np.inf])


def test_module_imports_only_numpy():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(_solvers))
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"__future__", "numpy"}

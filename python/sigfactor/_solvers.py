"""Small dense solvers in pure NumPy.

This module provides drop-in replacements for the two :mod:`scipy.optimize`
routines that sigfactor needs on its extraction path, so that importing
sigfactor does not pay for importing :mod:`scipy.optimize`:

- :func:`linear_sum_assignment`, the rectangular linear sum assignment problem,
  solved with the shortest augmenting path method of Jonker and Volgenant in
  the form given by Crouse (the algorithm behind
  ``scipy.optimize.linear_sum_assignment``);
- :func:`nnls`, non-negative least squares with the active set method of
  Lawson and Hanson (the algorithm behind ``scipy.optimize.nnls``).

Both follow SciPy's calling conventions and return the same results. The
problems solved here are small (tens of rows and columns), where a call costs
tens to hundreds of microseconds, against a few for SciPy's compiled code.

References
----------
.. [1] R. Jonker and A. Volgenant, "A shortest augmenting path algorithm for
   dense and sparse linear assignment problems", *Computing* 38(4):325-340,
   1987.
.. [2] D. F. Crouse, "On implementing 2D rectangular assignment algorithms",
   *IEEE Transactions on Aerospace and Electronic Systems* 52(4):1679-1696,
   2016, doi:10.1109/TAES.2016.140952.
.. [3] C. L. Lawson and R. J. Hanson, *Solving Least Squares Problems*, SIAM,
   1995, doi:10.1137/1.9781611971217.
"""
from __future__ import annotations

import numpy as np

__all__ = ["linear_sum_assignment", "nnls"]

_INF = float("inf")
_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _as_real_array(value, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a float64 array, checking its kind and dimension.

    Parameters
    ----------
    value : array_like
        The argument to convert.
    name : str
        The argument's name, used in error messages.
    ndim : tuple of int
        The accepted numbers of dimensions.

    Returns
    -------
    ndarray of float64
        A C-contiguous copy or view of ``value``.

    Raises
    ------
    TypeError
        If ``value`` is not real numeric (or boolean).
    ValueError
        If ``value`` has a number of dimensions not in ``ndim``.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":         # bool, signed, unsigned, float
        raise TypeError(f"{name} must be an array of real numbers; got dtype {array.dtype}")
    if array.ndim not in ndim:
        expected = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be a {expected} array; got an array of shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float64)


def _check_finite(array: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming the first non-finite entry of ``array``.

    Parameters
    ----------
    array : ndarray of float64
        The array to check.
    name : str
        The argument's name, used in the error message.

    Raises
    ------
    ValueError
        If any entry of ``array`` is NaN or infinite.
    """
    finite = np.isfinite(array)
    if not finite.all():
        position = tuple(int(k) for k in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} must contain only finite values; got {float(array[position])!r} at index "
            f"{position[0] if len(position) == 1 else position}"
        )


# --------------------------------------------------------------------------
# Linear sum assignment
# --------------------------------------------------------------------------


def linear_sum_assignment(cost, maximize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Solve the linear sum assignment problem.

    Find the one-to-one matching of rows to columns of ``cost`` with the
    smallest (or, with ``maximize=True``, largest) total. For a ``p x q``
    matrix, ``min(p, q)`` pairs are returned. The contract and the result
    are those of ``scipy.optimize.linear_sum_assignment``, including the
    choice among equally good assignments.

    Parameters
    ----------
    cost : array_like, shape (p, q)
        Real cost matrix, rows ("workers") by columns ("jobs"). Entries must
        be finite.
    maximize : bool, default=False
        If True, find a matching of largest total instead of smallest.

    Returns
    -------
    rows : ndarray of int64, shape (min(p, q),)
        Row indices, sorted ascending; ``arange(p)`` when ``p <= q``.
    cols : ndarray of int64, shape (min(p, q),)
        The column assigned to each entry of ``rows``. The total is
        ``cost[rows, cols].sum()``.

    Raises
    ------
    TypeError
        If ``cost`` is not real numeric.
    ValueError
        If ``cost`` is not 2-D or has a NaN or infinite entry. (SciPy accepts
        ``+inf`` for forbidden pairs; this function does not.)

    See Also
    --------
    scipy.optimize.linear_sum_assignment : The reference implementation.

    Notes
    -----
    Rows are added one at a time; each is matched by a shortest augmenting
    path on reduced costs, found with Dijkstra's method over the columns,
    and the dual variables are then updated [1]_ [2]_. This is O(p**2 q) for
    ``p <= q``; a tall matrix is solved through its transpose.

    The columns are scanned in SciPy's order and ties are broken the same
    way (among the columns at the smallest path cost, the last unassigned
    one scanned, else the first one scanned), with the reduced costs
    rounded identically, so that a problem with several optimal assignments
    gets SciPy's, not just an equally good one.

    The scan over the columns is a plain Python loop: at the sizes met here
    (tens of rows and columns) it is several times faster than NumPy array
    operations, whose per-call overhead dominates (measured: 15 against 190
    microseconds for 5 x 5, 240 against 440 for 20 x 86; NumPy wins from
    about 250 columns).

    Examples
    --------
    >>> import numpy as np
    >>> cost = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> rows, cols = linear_sum_assignment(cost)
    >>> cols
    array([1, 0, 2])
    >>> int(cost[rows, cols].sum())
    5
    """
    matrix = _as_real_array(cost, "cost", ndim=(2,))
    _check_finite(matrix, "cost")
    n_rows, n_cols = matrix.shape
    if n_rows == 0 or n_cols == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)

    transpose = n_cols < n_rows
    if transpose:
        matrix = matrix.T
    if maximize:
        matrix = -matrix
    col4row = _solve_wide(np.ascontiguousarray(matrix))
    if transpose:
        order = np.argsort(col4row, kind="stable")
        return col4row[order], order.astype(np.int64)
    return np.arange(matrix.shape[0], dtype=np.int64), col4row


def _solve_wide(cost: np.ndarray) -> np.ndarray:
    """Minimum-cost assignment of every row of a wide matrix.

    Parameters
    ----------
    cost : ndarray of float64, shape (p, q) with p <= q
        Finite cost matrix.

    Returns
    -------
    col4row : ndarray of int64, shape (p,)
        The column assigned to each row.
    """
    n_rows, n_cols = cost.shape
    costs = cost.tolist()
    u = [0.0] * n_rows                        # row duals
    v = [0.0] * n_cols                        # column duals
    col4row = [-1] * n_rows
    row4col = [-1] * n_cols
    for cur_row in range(n_rows):
        sink, min_val, rows_seen, scanned = _scan_columns(costs, u, v, row4col, cur_row)

        # Update the duals so that the reduced costs stay non-negative.
        u[cur_row] += min_val
        for i in rows_seen[1:]:
            u[i] += min_val - scanned[col4row[i]][0]
        for j, (length, _) in scanned.items():
            v[j] -= min_val - length

        # Flip the matching along the path from cur_row to the sink.
        j = sink
        while True:
            i = scanned[j][1]
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == cur_row:
                break
    return np.array(col4row, dtype=np.int64)


def _scan_columns(cost, u, v, row4col, start_row):
    """Shortest augmenting path from ``start_row`` to an unassigned column.

    Dijkstra's method over the columns, with reduced costs
    ``cost[i][j] - u[i] - v[j]``, as a Python loop over the columns. The
    unscanned columns are kept in a list that starts in descending order; a
    scanned column is replaced by the last one in the list (SciPy's order).

    Parameters
    ----------
    cost : list of list of float, p x q
        Finite cost matrix, p <= q.
    u, v : list of float
        Current row and column duals.
    row4col : list of int
        The row matched to each column, -1 if none.
    start_row : int
        The unmatched row to augment from.

    Returns
    -------
    sink : int
        The unassigned column that ends the path.
    min_val : float
        The reduced length of the path.
    rows_seen : list of int
        The rows reached, ``start_row`` first (Crouse's SR).
    scanned : dict
        ``{column: (shortest path cost, row it was reached from)}`` for each
        scanned column (Crouse's SC).
    """
    n_cols = len(v)
    remaining = list(range(n_cols - 1, -1, -1))
    spc = [_INF] * n_cols                     # shortest path costs so far
    came_from = [-1] * n_cols
    rows_seen, scanned = [], {}
    min_val = 0.0
    i = start_row
    while True:
        rows_seen.append(i)
        row, u_i = cost[i], u[i]
        lowest, index = _INF, -1
        for position, j in enumerate(remaining):
            # Same association as SciPy, ((min_val + c) - u) - v, for equal rounding.
            length = min_val + row[j] - u_i - v[j]
            if length < spc[j]:
                came_from[j] = i
                spc[j] = length
            length = spc[j]
            # The first minimum, unless a later tie is unassigned (a sink).
            if length < lowest or (length == lowest and row4col[j] == -1):
                lowest, index = length, position
        min_val = lowest
        j = remaining[index]
        remaining[index] = remaining[-1]
        remaining.pop()
        scanned[j] = (min_val, came_from[j])
        if row4col[j] == -1:
            return j, min_val, rows_seen, scanned
        i = row4col[j]


# --------------------------------------------------------------------------
# Non-negative least squares
# --------------------------------------------------------------------------


def nnls(A, b, maxiter: int | None = None) -> tuple[np.ndarray, float]:
    """Solve ``argmin_x ||A x - b||_2`` subject to ``x >= 0``.

    Same contract as ``scipy.optimize.nnls``.

    Parameters
    ----------
    A : array_like, shape (m, n)
        Real coefficient matrix with finite entries.
    b : array_like, shape (m,) or (m, 1)
        Real right-hand side with finite entries.
    maxiter : int, optional
        Maximum number of iterations, counted as in SciPy: one per
        least-squares solve (after a variable enters the passive set, and
        after each step back to feasibility). Defaults to ``3 * n``, as in
        SciPy; 0 or None means the default.

    Returns
    -------
    x : ndarray of float64, shape (n,)
        The non-negative solution.
    rnorm : float
        The residual norm ``||A x - b||_2``.

    Raises
    ------
    TypeError
        If ``A`` or ``b`` is not real numeric.
    ValueError
        If the shapes do not match or an entry is NaN or infinite.
    RuntimeError
        If the solution is not found within ``maxiter`` iterations.

    See Also
    --------
    scipy.optimize.nnls : The reference implementation.

    Notes
    -----
    Lawson and Hanson's active set method [3]_. Variables move one at a time
    from the active set (held at zero) to the passive set, always the one
    with the largest positive gradient component ``w = A.T @ (b - A @ x)``.
    After each move the unconstrained least-squares problem on the passive
    columns is solved; while its solution has non-positive entries, ``x``
    steps towards it as far as feasibility allows and the variables that
    reach zero return to the active set. The method stops when no gradient
    component is positive, so that the Karush-Kuhn-Tucker conditions hold.

    As in the reference code, a candidate is passed over when its column is
    numerically dependent on the passive ones or when its new coefficient
    would not be positive, and the passive set holds at most ``min(m, n)``
    variables. The passive subproblems are solved with a thin QR
    factorisation that gains a column by Gram-Schmidt orthogonalisation
    (repeated once, for orthogonality to working precision) and is
    recomputed with :func:`numpy.linalg.qr` when columns leave. A gradient
    component counts as positive only above a round-off tolerance.

    When ``A`` has dependent columns, ``x`` may not be unique, and the ``x``
    found can differ from SciPy's; ``A @ x`` and ``rnorm`` do not.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1, 0], [1, 0], [0, 1]])
    >>> x, rnorm = nnls(A, np.array([2, 1, 1]))
    >>> x
    array([1.5, 1. ])
    >>> round(rnorm, 12)
    0.707106781187
    """
    A, b = _nnls_inputs(A, b)
    m, n = A.shape
    if not maxiter:
        maxiter = 3 * n
    x = np.zeros(n)
    if m == 0 or n == 0:
        return x, float(np.linalg.norm(b))

    col_norms = np.sqrt(np.einsum("ij,ij->j", A, A))
    # Gradient components up to this size are round-off around zero.
    w_tol = 10.0 * max(m, n) * _EPS * float(col_norms.max()) * float(np.linalg.norm(b))
    qr = _PassiveQR(A, b, col_norms)
    iteration = 0
    w = A.T.dot(b)
    while len(qr.columns) < min(m, n):
        z = _enter_best(qr, w, w_tol)
        if z is None:
            break
        # Inner loop: step back from infeasible subproblem solutions.
        while True:
            iteration += 1
            if iteration >= maxiter:
                raise RuntimeError(
                    f"nnls did not converge within maxiter={maxiter} iterations (A is {m} x {n}); "
                    "pass a larger maxiter"
                )
            columns = np.array(qr.columns)
            if z.min(initial=np.inf) > 0:
                x[:] = 0.0
                x[columns] = z
                break
            x, keep = _step_to_feasible(x, z, columns)
            qr.refactor(columns[keep])
            z = qr.solve()
        w = A.T.dot(b - A.dot(x))
    return x, float(np.linalg.norm(b - A.dot(x)))


def _nnls_inputs(A, b) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert the arguments of :func:`nnls`.

    Parameters
    ----------
    A : array_like, shape (m, n)
    b : array_like, shape (m,) or (m, 1)

    Returns
    -------
    A : ndarray of float64, shape (m, n)
    b : ndarray of float64, shape (m,)
    """
    A = _as_real_array(A, "A", ndim=(2,))
    b = _as_real_array(b, "b", ndim=(1, 2))
    if b.ndim == 2:
        if b.shape[1] != 1:
            raise ValueError(f"b must be a 1-D array or a single column; got shape {b.shape}")
        b = b.ravel()
    if b.shape[0] != A.shape[0]:
        raise ValueError(
            f"A and b must have the same number of rows; got A of shape {A.shape} "
            f"and b of shape {b.shape}"
        )
    _check_finite(A, "A")
    _check_finite(b, "b")
    return A, b


def _enter_best(qr: _PassiveQR, w: np.ndarray, w_tol: float):
    """Move the best admissible variable into the passive set.

    Candidates are tried in decreasing order of ``w``; one is passed over if
    its column is numerically dependent on the passive columns or if its
    coefficient in the new subproblem solution is not positive.

    Parameters
    ----------
    qr : _PassiveQR
        Factorisation of the passive columns; gains the entering column.
    w : ndarray of float64, shape (n,)
        Gradient components ``A.T @ (b - A @ x)``.
    w_tol : float
        Components at or below ``w_tol`` do not count as positive.

    Returns
    -------
    ndarray of float64 or None
        The subproblem solution on the new passive set (in the order of
        ``qr.columns``), or None if no variable can enter (``x`` is optimal).
    """
    w = w.copy()
    w[qr.columns] = -np.inf
    while True:
        k = int(np.argmax(w))
        if not w[k] > w_tol:
            return None
        if qr.append(k):
            z = qr.solve()
            if z[-1] > 0:
                return z
            qr.pop()
        w[k] = -np.inf


def _step_to_feasible(x: np.ndarray, z: np.ndarray, columns: np.ndarray):
    """Step from feasible ``x`` towards ``z`` until a coefficient reaches zero.

    Parameters
    ----------
    x : ndarray of float64, shape (n,)
        Current feasible point.
    z : ndarray of float64, shape (len(columns),)
        Subproblem solution on the passive set, with an entry <= 0.
    columns : ndarray of int
        The passive variables, in the order of ``z``.

    Returns
    -------
    x : ndarray of float64, shape (n,)
        The new point, zero outside the variables kept.
    keep : ndarray of bool, shape (len(columns),)
        The passive variables that stay passive (still positive).
    """
    x_p = x[columns]
    blocking = np.flatnonzero(z <= 0)
    ratios = x_p[blocking] / (x_p[blocking] - z[blocking])
    first = int(np.argmin(ratios))
    x_p = x_p + ratios[first] * (z - x_p)
    x_p[blocking[first]] = 0.0
    keep = x_p > 0
    x = np.zeros_like(x)
    x[columns[keep]] = x_p[keep]
    return x, keep


class _PassiveQR:
    """Thin QR factorisation ``A[:, columns] = Q R`` of the passive columns.

    ``R`` is kept through its inverse, which gains a column as cheaply as
    ``R`` does, so that a subproblem solve is one matrix-vector product.

    Parameters
    ----------
    A : ndarray of float64, shape (m, n)
    b : ndarray of float64, shape (m,)
    col_norms : ndarray of float64, shape (n,)
        Euclidean norms of the columns of ``A``.

    Attributes
    ----------
    columns : list of int
        The passive variables, in column order of ``Q``.
    """

    def __init__(self, A: np.ndarray, b: np.ndarray, col_norms: np.ndarray):
        m, n = A.shape
        size = min(m, n)
        self.A, self.b, self.col_norms = A, b, col_norms
        self.Q = np.zeros((m, size), order="F")
        self.R_inv = np.zeros((size, size))
        self.qtb = np.zeros(size)             # Q.T @ b
        self.columns: list[int] = []

    def append(self, j: int) -> bool:
        """Add column ``j`` unless it is numerically dependent on the others.

        Parameters
        ----------
        j : int

        Returns
        -------
        bool
            Whether the column was added.
        """
        k = len(self.columns)
        Q = self.Q[:, :k]
        q = self.A[:, j].copy()
        r = np.zeros(k)
        for _ in range(2 if k else 0):        # Gram-Schmidt, repeated once
            correction = Q.T.dot(q)
            q -= Q.dot(correction)
            r += correction
        dist = float(q.dot(q)) ** 0.5
        # The reference code's test: the part of the column outside the span
        # of the passive columns must exceed 100 units in the last place.
        if not dist > 100.0 * _EPS * self.col_norms[j]:
            return False
        q /= dist
        self.Q[:, k] = q
        # inv([[R, r], [0, dist]]) = [[R_inv, -R_inv @ r / dist], [0, 1 / dist]]
        self.R_inv[:k, k] = self.R_inv[:k, :k].dot(r) / -dist
        self.R_inv[k, :k] = 0.0
        self.R_inv[k, k] = 1.0 / dist
        self.qtb[k] = q.dot(self.b)
        self.columns.append(j)
        return True

    def pop(self) -> None:
        """Remove the column added last."""
        self.columns.pop()

    def refactor(self, columns) -> None:
        """Factorise ``A[:, columns]`` afresh.

        Parameters
        ----------
        columns : sequence of int
            The new passive variables, a subset of the current ones.
        """
        self.columns = [int(j) for j in columns]
        k = len(self.columns)
        if k:
            Q, R = np.linalg.qr(self.A[:, self.columns])
            self.Q[:, :k] = Q
            self.R_inv[:k, :k] = np.linalg.solve(R, np.eye(k))
            self.qtb[:k] = Q.T.dot(self.b)

    def solve(self) -> np.ndarray:
        """Least-squares solution ``z`` of ``A[:, columns] @ z = b``.

        Returns
        -------
        ndarray of float64, shape (len(columns),)
        """
        k = len(self.columns)
        return self.R_inv[:k, :k].dot(self.qtb[:k])

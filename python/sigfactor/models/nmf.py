"""NMF by Lee-Seung multiplicative updates, Frobenius and generalized KL (Poisson) losses.

``V ~ W H`` with ``V`` channels x samples, ``W`` channels x k (signatures), ``H`` k x samples
(exposures). Every tensor carries a leading restart dimension.
"""
from __future__ import annotations

import torch

from ._base import CD_KEEP, batch_means, nmf_random_init
from ._driver import LOSSES, RunResult, State, iterate, per_restart, shared_left, tiny, uniform


def random_init(V: torch.Tensor, rank: int, gens) -> State:
    """Uniform factors scaled so the mean of ``W H`` matches the mean of ``V``.

    ``W, H ~ U(0, 2 sqrt(mean(V) / k))``, so ``E[(W H)_ij] = mean(V)``.
    """
    means = batch_means(V.detach().cpu().numpy())
    W, H = nmf_random_init(means, tuple(V.shape[-2:]), rank, gens)
    return {"W": torch.from_numpy(W).to(V.device, V.dtype), "H": torch.from_numpy(H).to(V.device, V.dtype)}


def nndsvd_init(V: torch.Tensor, rank: int, gens) -> State:
    """NNDSVD (Boutsidis & Gallopoulos 2008) with zeros filled by small random values.

    The SVD part is scikit-learn's ``init="nndsvd"`` (exact SVD here, randomized there) and the
    same for every restart on the same data; its zeros are filled with ``U(0, mean(V) / 100)``
    draws from each restart's generator (scikit-learn's ``"nndsvdar"`` fills the same entries
    with ``|N(0, 1)| mean(V) / 100``), so restarts differ and multiplicative updates can move
    every entry.
    """
    n_restarts = len(gens)
    V64 = V.detach().to("cpu", torch.float64)
    U, S, Vh = torch.linalg.svd(V64, full_matrices=False)
    B, m, n = V64.shape
    W = torch.zeros(B, m, rank, dtype=torch.float64)
    H = torch.zeros(B, rank, n, dtype=torch.float64)
    W[:, :, 0] = S[:, :1].sqrt() * U[:, :, 0].abs()
    H[:, 0, :] = S[:, :1].sqrt() * Vh[:, 0, :].abs()
    for j in range(1, rank):
        x, y = U[:, :, j], Vh[:, j, :]
        xp, xn = x.clamp_min(0), (-x).clamp_min(0)
        yp, yn = y.clamp_min(0), (-y).clamp_min(0)
        xpn, xnn = xp.norm(dim=1), xn.norm(dim=1)
        ypn, ynn = yp.norm(dim=1), yn.norm(dim=1)
        mp, mn = xpn * ypn, xnn * ynn
        use_pos = (mp > mn).unsqueeze(1)
        sigma = torch.where(mp > mn, mp, mn)
        u = torch.where(use_pos, xp / xpn.clamp_min(1e-300).unsqueeze(1), xn / xnn.clamp_min(1e-300).unsqueeze(1))
        v = torch.where(use_pos, yp / ypn.clamp_min(1e-300).unsqueeze(1), yn / ynn.clamp_min(1e-300).unsqueeze(1))
        lam = (S[:, j] * sigma).sqrt().unsqueeze(1)
        W[:, :, j] = lam * u
        H[:, j, :] = lam * v
    fill = per_restart(V64.mean(dim=(-2, -1)), n_restarts) / 100.0
    W = W.expand(n_restarts, -1, -1) if B == 1 else W
    H = H.expand(n_restarts, -1, -1) if B == 1 else H
    like64 = torch.empty(0, dtype=torch.float64)
    W = torch.where(W > 0, W, uniform(gens, (m, rank), fill, like=like64))
    H = torch.where(H > 0, H, uniform(gens, (rank, n), fill, like=like64))
    return {"W": W.to(V.device, V.dtype), "H": H.to(V.device, V.dtype)}


def initialize(V: torch.Tensor, rank: int, gens, init: str) -> State:
    """Initial ``W`` and ``H`` by the named scheme (see :data:`INITS`)."""
    return random_init(V, rank, gens) if init == "random" else nndsvd_init(V, rank, gens)


def frobenius_update(U: torch.Tensor, F: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``U <- U * (F X) / ((F F^T) U)``: the Lee-Seung update of ``U`` for ``||X - F^T U||^2``.

    ``U`` is ``(R, k, q)``, ``F`` ``(R, k, p)``, ``X`` ``(B, p, q)``. With ``U = H``,
    ``F = W^T``, ``X = V`` it updates ``H``; with ``U = W^T``, ``F = H``, ``X = V^T`` it updates
    ``W^T``. Both large products are then ``F X`` with the restarts folded into one matrix
    product when they share a catalogue, and no transposed copies are made.
    """
    num = shared_left(F, X)
    den = torch.bmm(torch.bmm(F, F.transpose(-1, -2)), U).clamp_min_(tiny(U.dtype))
    return num.mul_(U).div_(den)


def frobenius_step(V: torch.Tensor, Vt: torch.Tensor, s: State) -> State:
    """One multiplicative update of ``H`` then ``W`` (held as ``Wt = W^T``) for ``||V - W H||^2``."""
    H = frobenius_update(s["H"], s["Wt"], V)
    return {"Wt": frobenius_update(s["Wt"], H, Vt), "H": H}


def frobenius_objective(V: torch.Tensor, s: State) -> torch.Tensor:
    """Per-entry squared error without forming ``W H``, in float64 (state ``Wt``, ``H``).

    ``||V - W H||^2 = ||V||^2 - 2 <W^T V, H> + <W^T W, H H^T>``: k x n and k x k products
    instead of a channels x samples matrix per restart. The terms nearly cancel at a good fit,
    so they are summed in float64 (in float32 the cancellation would hide the loss changes the
    stopping rule looks for).
    """
    V64 = V.double()
    Wt, H = s["Wt"].double(), s["H"].double()
    cross = (shared_left(Wt, V64) * H).sum(dim=(-2, -1))
    quad = ((Wt @ Wt.transpose(-1, -2)) * (H @ H.transpose(-1, -2))).sum(dim=(-2, -1))
    total = V64.pow(2).sum(dim=(-2, -1)) - 2.0 * cross + quad
    return (total.clamp_min(0) / (V.shape[-1] * V.shape[-2])).to(V.dtype)


def _fit_frobenius(V, state, *, max_iter, tol, check_every, progress) -> RunResult:
    """Frobenius NMF: the loop carries both orders of each catalogue flattened side by side,
    ``(B, 2, channels * samples)``, so selecting restarts selects both, and the factors as
    ``Wt = W^T`` and ``H`` (see :func:`frobenius_update`)."""
    B, m, n = V.shape
    both = torch.stack([V.reshape(B, m * n), V.transpose(-1, -2).reshape(B, m * n)], dim=1)

    def split(both_):
        b = both_.shape[0]
        return both_[:, 0].view(b, m, n), both_[:, 1].view(b, n, m)

    def step(both_, s):
        return frobenius_step(*split(both_), s)

    def objective(both_, s):
        return frobenius_objective(split(both_)[0], s)

    start = {"Wt": state["W"].transpose(-1, -2).contiguous(), "H": state["H"].contiguous()}
    run = iterate(both, start, step, objective, max_iter=max_iter, tol=tol, check_every=check_every,
                  progress=progress)
    run.state = {"W": run.state["Wt"].transpose(-1, -2), "H": run.state["H"]}
    return run


def kl_step(V: torch.Tensor, s: State, gamma: float = 1.0) -> State:
    """One multiplicative update of ``H`` then ``W`` for the generalized KL divergence.

    ``H <- H * ((W^T (V / W H)) / (W^T 1)) ** gamma``, then the same for ``W``. ``gamma = 1``
    is Lee and Seung's update, which never increases the divergence; ``1 < gamma < 2`` is the
    over-relaxed update (Badeau, Bertin and Vincent 2010, IEEE Trans. Neural Netw. 21:1869:
    locally stable at the minima for exponents below 2), which takes longer steps and is not
    guaranteed to decrease the divergence at every step.

    Written with in-place operations on fresh temporaries: the update is bound by memory
    traffic over the channels x samples matrices, not by arithmetic.
    """
    W, H = s["W"], s["H"]
    eps = tiny(V.dtype)
    ratio = torch.div(V, (W @ H).clamp_min_(eps))
    H = _scaled(W.transpose(-1, -2) @ ratio, W.sum(dim=-2).unsqueeze(-1).clamp_min_(eps), H, gamma)
    ratio = torch.div(V, (W @ H).clamp_min_(eps))
    W = _scaled(ratio @ H.transpose(-1, -2), H.sum(dim=-1).unsqueeze(-2).clamp_min_(eps), W, gamma)
    return {"W": W, "H": H}


def _scaled(num: torch.Tensor, den: torch.Tensor, U: torch.Tensor, gamma: float) -> torch.Tensor:
    """``U * (num / den) ** gamma``, in ``num``'s memory (``num * U / den`` when ``gamma`` is 1)."""
    if gamma == 1:
        return num.mul_(U).div_(den)
    return num.div_(den).pow_(gamma).mul_(U)


def kl_cd_step(V: torch.Tensor, s: State) -> State:
    """One sweep of coordinate descent over ``H`` then ``W`` for the generalized KL divergence.

    Each row of ``H`` in turn (then each column of ``W``) takes one projected Newton step with
    the rest fixed (Hsieh and Dhillon 2011, "Fast coordinate descent methods with variable
    selection for non-negative matrix factorization", KDD, section 4); see :func:`_cd_half`.
    The sweep of :func:`sigfactor.models._kl_cpu._cd_update`, which the CPU runs; here for
    every restart at once (the GPU path).
    """
    W, H = s["W"], s["H"]
    H = _cd_half(V, W.transpose(-1, -2), H)
    Wt = _cd_half(V.transpose(-1, -2), H, W.transpose(-1, -2))
    return {"W": Wt.transpose(-1, -2), "H": H}


def _cd_half(X: torch.Tensor, F: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``U`` after one Newton step on each of its rows in turn, for ``X ~ F^T U`` (KL).

    With ``P = max(F^T U, eps)``, row ``c`` moves to ``max(U[c] - g / h, 0)`` with
    ``g = sum_a F[c, a] (1 - X[a] / P[a])`` and ``h = sum_a F[c, a]^2 X[a] / P[a]^2`` (to 0
    where ``h = 0`` and ``g > 0``), but no entry of ``P`` where ``X > 0`` falls below
    :data:`CD_KEEP` of itself, and ``P`` moves with it (see
    :func:`sigfactor.models._kl_cpu._cd_update`). ``X`` ``(B, p, q)``, ``F``
    ``(R, k, p)``, ``U`` ``(R, k, q)`` (not modified).
    """
    eps = tiny(X.dtype)
    U = U.clone()
    P = (F.transpose(-1, -2) @ U).clamp_min_(eps)
    scale = F.sum(dim=-1)
    zero = torch.zeros((), dtype=U.dtype, device=U.device)
    for c in range(U.shape[-2]):
        f = F[:, c, :].unsqueeze(-1)
        inv = P.reciprocal()
        r = X * inv
        num = (f * r).sum(dim=-2)
        curv = (f * f * (r * inv)).sum(dim=-2)
        most = torch.where(X > 0, f * inv, zero).amax(dim=-2)
        grad = scale[:, c].unsqueeze(-1) - num
        u = U[:, c, :]
        new = torch.where(curv > 0, u - grad / curv, torch.where(grad > 0, zero, u))
        new = torch.where(most > 0, torch.maximum(new, u - (1 - CD_KEEP) / most), new).clamp_min_(0)
        P = (P + f * (new - u).unsqueeze(-2)).clamp_min_(eps)
        U[:, c, :] = new
    return U


def fit_nmf(V, rank, gens, *, loss="frobenius", init="random", max_iter=10000, tol=1e-6,
            check_every=10, progress=None, kl_exponent=1.0, solver="mu") -> RunResult:
    """Fit NMF to ``V`` (``(B, channels, samples)``, ``B`` 1 or the number of restarts).

    ``kl_exponent`` is :func:`kl_step`'s ``gamma`` and ``solver`` ``"mu"`` or ``"cd"`` (KL
    loss only; with ``"cd"`` an iteration is one sweep of :func:`kl_cd_step`, and every check
    of the stopping rule after the first tries an extrapolated point,
    :func:`~._driver.extrapolate`). Returns the
    driver's :class:`RunResult` with state ``W`` (R, channels, k) and ``H`` (R, k, samples).
    """
    state = initialize(V, rank, gens, init)
    if loss == "frobenius":
        # The Frobenius update works on k x n and m x k products only: one batch is fastest,
        # and its objective is taken from the same small products.
        return _fit_frobenius(V, state, max_iter=max_iter, tol=tol, check_every=check_every, progress=progress)
    if V.device.type == "cpu":
        return _fit_kl_cpu(V, state, max_iter=max_iter, tol=tol, check_every=check_every, progress=progress,
                           gamma=kl_exponent, solver=solver)
    return _fit_kl_torch(V, state, max_iter=max_iter, tol=tol, check_every=check_every, progress=progress,
                         gamma=kl_exponent, solver=solver)


def _fit_kl_torch(V, state, *, max_iter, tol, check_every, progress, gamma=1.0, solver="mu") -> RunResult:
    """KL NMF in PyTorch through :func:`~._driver.iterate`, what a GPU runs: the update
    materialises ``W H`` for every restart, all restarts at once. With ``"cd"`` the driver
    extrapolates at every check, as the CPU kernels do."""
    step = kl_cd_step if solver == "cd" else (lambda V_, s: kl_step(V_, s, gamma))
    return iterate(V, state, step,
                   lambda V_, s: LOSSES["kl"](V_, s["W"] @ s["H"]),
                   max_iter=max_iter, tol=tol, check_every=check_every, progress=progress,
                   extrapolate_keys=("W", "H") if solver == "cd" else ())


def _fit_kl_cpu(V, state, *, max_iter, tol, check_every, progress, gamma=1.0, solver="mu") -> RunResult:
    """KL NMF on the CPU: :func:`._kl_cpu.fit_kl` (every restart runs to convergence in the
    compiled kernels, with :func:`~._driver.iterate`'s stopping rule and bookkeeping) on the
    tensors' memory, with PyTorch's thread count for this fit (``fit``'s ``threads``)."""
    from ._kl_cpu import fit_kl

    run = fit_kl(V.numpy(), state["W"].numpy(), state["H"].numpy(), max_iter=max_iter, tol=tol,
                 check_every=check_every, progress=progress, threads=torch.get_num_threads(), gamma=gamma,
                 solver=solver)
    return RunResult(
        state={"W": torch.from_numpy(run.W), "H": torch.from_numpy(run.H)},
        loss=torch.from_numpy(run.loss), n_iter=torch.from_numpy(run.n_iter),
        converged=torch.from_numpy(run.converged), trace=torch.from_numpy(run.trace),
        trace_iter=torch.from_numpy(run.trace_iter),
    )

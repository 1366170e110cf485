"""Independent reference values for 1D model problems (numpy/scipy, no JAX).

- :func:`exact_levels_1d` / :func:`exact_free_energy_1d`: diagonalisation of H = p^2/2m + V(x)
  on a uniform grid with the Colbert-Miller sinc DVR (J. Chem. Phys. 96, 1982 (1992)),
  spectrally accurate for smooth potentials.
- :func:`gaussian_free_energy_1d`: the best Gaussian density matrix (a harmonic oscillator of
  frequency W centred at c; the 1D analogue of SCHA): F_G = F_ho(W) + <V - m W^2 (x-c)^2/2>_G,
  minimised over (W, c); <.>_G by Gauss-Hermite quadrature.
- :func:`exact_free_energy_nd` / :func:`gaussian_free_energy_nd`: the same two references for a
  non-separable potential of 2 or 3 coordinates (product sinc DVR, sparse Lanczos
  diagonalisation; Gaussian density matrix with a full frequency matrix, quadrature by a
  tensor Gauss-Hermite grid).
- :func:`point_transformation_free_energy_1d`: the lowest free energy a density matrix
  sum_n p_n U|n><n|U^+ with U a *point transformation* (the 1D NCT ansatz) can reach, by direct
  deterministic minimisation on a grid (flexible monotone map f with f' = exp(sum of RBFs)).
  This is the ansatz limit the stochastic NCT optimisation should approach.

Units: natural (hbar = m = kB = 1) unless given.
"""

from __future__ import annotations

import numpy as np


def exact_levels_1d(potential, n_levels: int = 100, x_max: float = 8.0, n_grid: int = 801,
                    mass: float = 1.0, hbar: float = 1.0) -> np.ndarray:
    """Lowest ``n_levels`` eigenvalues of p^2/2m + V(x) on [-x_max, x_max] (sinc DVR).

    ``potential`` maps a numpy array to a numpy array.
    """
    from scipy.linalg import eigh

    x = np.linspace(-x_max, x_max, int(n_grid))
    t = _sinc_dvr_kinetic(x.size, x[1] - x[0], mass, hbar)
    h = t + np.diag(np.asarray(potential(x), dtype=float))
    n_levels = min(int(n_levels), x.size)
    return eigh(h, eigvals_only=True, subset_by_index=(0, n_levels - 1))


def free_energy_from_levels(levels, kT: float) -> float:
    levels = np.asarray(levels, dtype=float)
    if kT == 0:
        return float(levels.min())
    e0 = levels.min()
    return float(e0 - kT * np.log(np.sum(np.exp(-(levels - e0) / kT))))


def exact_free_energy_1d(potential, kT: float, n_levels: int = 200, x_max: float = 10.0,
                         n_grid: int = 1201, mass: float = 1.0, hbar: float = 1.0) -> float:
    """-kT ln Tr exp(-H/kT) from the DVR spectrum (ground-state energy at kT = 0).

    Raises if the highest computed level still carries a Boltzmann weight above 1e-14.
    """
    levels = exact_levels_1d(potential, n_levels, x_max, n_grid, mass, hbar)
    if kT > 0 and np.exp(-(levels[-1] - levels[0]) / kT) > 1e-14:
        raise ValueError(f"n_levels = {n_levels} too few for kT = {kT}: top level weight "
                         f"{np.exp(-(levels[-1] - levels[0]) / kT):.1e}")
    return free_energy_from_levels(levels, kT)


def _oscillator_free_energy_and_variance(w, kT: float, mass: float, hbar: float):
    """Thermal harmonic oscillator of angular frequency w: free energy and <x^2>."""
    hw = hbar * w
    if kT > 0:
        x = hw / kT
        return (0.5 * hw + kT * np.log1p(-np.exp(-x)),
                hbar / (2.0 * mass * w) / np.tanh(0.5 * x))
    return 0.5 * hw, hbar / (2.0 * mass * w)


def gaussian_free_energy_1d(potential, kT: float, mass: float = 1.0, hbar: float = 1.0,
                            guess=(1.0, 0.0), n_quad: int = 80) -> tuple[float, float, float]:
    """(F_G, W, c): the Gaussian (SCHA-like) variational free energy and its optimum."""
    from scipy.optimize import minimize

    nodes, weights = np.polynomial.hermite_e.hermegauss(int(n_quad))   # weight exp(-t^2/2)
    weights = weights / np.sqrt(2.0 * np.pi)

    def f_gauss(params):
        log_w, c = params
        w = np.exp(log_w)
        f_ho, var = _oscillator_free_energy_and_variance(w, kT, mass, hbar)
        sigma = np.sqrt(var)
        v_mean = np.sum(weights * potential(c + sigma * nodes))
        return f_ho + v_mean - 0.5 * mass * w * w * var

    best = None
    for c0 in (guess[1], 1.0, -1.0, 0.0):
        for w0 in (guess[0], 0.5, 2.0):
            res = minimize(f_gauss, [np.log(w0), c0], method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
            if best is None or res.fun < best.fun:
                best = res
    return float(best.fun), float(np.exp(best.x[0])), float(best.x[1])


DENSE_DVR_MAX = 6000      # grid sizes diagonalised densely (faster than Lanczos for many levels)


def _sinc_dvr_kinetic(n_grid: int, dx: float, mass: float, hbar: float) -> np.ndarray:
    i = np.arange(int(n_grid))
    diff = i[:, None] - i[None, :]
    with np.errstate(divide="ignore"):
        t = np.where(diff == 0, np.pi ** 2 / 3.0, 2.0 / np.where(diff == 0, 1, diff) ** 2)
    return t * (-1.0) ** np.abs(diff) * hbar ** 2 / (2.0 * mass * dx * dx)


def exact_free_energy_nd(potential, kT: float, dim: int, n_levels: int = 300,
                         x_max: float = 6.0, n_grid: int = 41, mass: float = 1.0,
                         hbar: float = 1.0) -> float:
    """-kT ln Tr exp(-H/kT) of H = p^2/2m + V(x) with x of ``dim`` (2 or 3) coordinates.

    Product sinc DVR on [-x_max, x_max]^dim with ``n_grid`` points per axis; the lowest
    ``n_levels`` eigenvalues (dense up to ``DENSE_DVR_MAX`` grid points, else sparse Lanczos).
    ``potential`` maps an array (..., dim) to (...).  Raises if the highest level still
    carries weight above 1e-10.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    dim = int(dim)
    if dim not in (2, 3):
        raise ValueError(f"exact_free_energy_nd: dim must be 2 or 3, got {dim}")
    axis = np.linspace(-x_max, x_max, int(n_grid))
    t1 = sp.csr_matrix(_sinc_dvr_kinetic(n_grid, axis[1] - axis[0], mass, hbar))
    eye = sp.identity(int(n_grid), format="csr")
    h = None
    for k in range(dim):
        term = None
        for j in range(dim):
            factor = t1 if j == k else eye
            term = factor if term is None else sp.kron(term, factor, format="csr")
        h = term if h is None else h + term
    grid = np.stack(np.meshgrid(*[axis] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
    h = h + sp.diags(np.asarray(potential(grid), dtype=float))
    if h.shape[0] <= DENSE_DVR_MAX:
        from scipy.linalg import eigh

        levels = eigh(h.toarray(), eigvals_only=True,
                      subset_by_index=(0, min(int(n_levels), h.shape[0]) - 1))
    else:
        levels = np.sort(eigsh(h, k=int(n_levels), which="SA", return_eigenvectors=False))
    if kT > 0 and np.exp(-(levels[-1] - levels[0]) / kT) > 1e-10:
        raise ValueError(f"n_levels = {n_levels} too few for kT = {kT}: top level weight "
                         f"{np.exp(-(levels[-1] - levels[0]) / kT):.1e}")
    return free_energy_from_levels(levels, kT)


def _rotation_from_angles(angles, dim: int) -> np.ndarray:
    from scipy.linalg import expm

    a = np.zeros((dim, dim))
    a[np.triu_indices(dim, 1)] = angles
    return expm(a - a.T)


def gaussian_free_energy_nd(potential, kT: float, dim: int, mass: float = 1.0,
                            hbar: float = 1.0, n_quad: int = 24, starts: int = 4,
                            seed: int = 0) -> float:
    """The best Gaussian (SCHA) free energy of a ``dim``-coordinate potential (2 or 3).

    The trial density matrix is the thermal state of a harmonic oscillator with principal
    frequencies w_i along axes U (rotation) centred at c: F_G = sum_i F_ho(w_i) + <V>_G
    - sum_i m w_i^2 s_i^2 / 2, with s_i^2 = hbar coth(hbar w_i / 2kT) / (2 m w_i); minimised over
    (ln w, angles of U, c) by BFGS from several starts.  ``potential`` as in
    :func:`exact_free_energy_nd`.
    """
    from scipy.optimize import minimize

    dim = int(dim)
    nodes, weights = np.polynomial.hermite_e.hermegauss(int(n_quad))   # weight exp(-t^2/2)
    weights = weights / np.sqrt(2.0 * np.pi)
    t = np.stack(np.meshgrid(*[nodes] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
    wt = np.prod(np.stack(np.meshgrid(*[weights] * dim, indexing="ij"), axis=-1)
                 .reshape(-1, dim), axis=-1)
    n_ang = dim * (dim - 1) // 2

    def f_gauss(params):
        w = np.exp(params[:dim])
        u = _rotation_from_angles(params[dim:dim + n_ang], dim)
        c = params[dim + n_ang:]
        f_ho, var = _oscillator_free_energy_and_variance(w, kT, mass, hbar)
        pts = c + (t * np.sqrt(var)) @ u.T
        return float(np.sum(f_ho) + np.sum(wt * potential(pts)) - np.sum(0.5 * mass * w * w * var))

    rng = np.random.default_rng(seed)
    best = None
    for k in range(int(starts)):
        x0 = np.concatenate([rng.normal(0.0, 0.3, dim) if k else np.zeros(dim),
                             rng.uniform(-np.pi, np.pi, n_ang) if k else np.zeros(n_ang),
                             rng.normal(0.0, 0.5, dim) if k else np.zeros(dim)])
        res = minimize(f_gauss, x0, method="BFGS", options={"gtol": 1e-10})
        if best is None or res.fun < best.fun:
            best = res
    return float(best.fun)


def point_transformation_free_energy_1d(potential, kT: float, n_levels: int = 20,
                                        x_max: float = 7.0, n_grid: int = 7001,
                                        n_rbf: int = 61, iterations: int = 6000,
                                        omega: float = 1.0) -> tuple[float, np.ndarray]:
    """(F, E_n): the best free energy of the 1D NCT ansatz (point transformation + free p_n).

    Psi_n(x) = phi_n(f(x)) f'(x)^(1/2) with f' = exp(a + sum_j c_j exp(-(x-x_j)^2/(2 s^2)))
    on a grid; E_n = <Psi_n|H|Psi_n> by quadrature; F = -kT ln sum_n exp(-E_n/kT) minimised
    with Adam (JAX).  hbar = m = 1.  Deterministic, independent of the stochastic engine.
    """
    import optax

    from qfe._jax import jax, jnp
    from qfe.nct.basis import hermite_functions

    x = jnp.linspace(-x_max, x_max, int(n_grid))
    dx = float(x[1] - x[0])
    centers = jnp.linspace(-x_max + 1.0, x_max - 1.0, int(n_rbf))
    width = float(centers[1] - centers[0]) * 1.5
    vx = jnp.asarray(potential(np.asarray(x)))
    mid = int(n_grid) // 2

    def levels(p):
        h = p["a"] + jnp.exp(-0.5 * ((x[:, None] - centers[None, :]) / width) ** 2) @ p["c"]
        fp = jnp.exp(h)
        f = jnp.concatenate([jnp.zeros(1), jnp.cumsum(0.5 * (fp[1:] + fp[:-1]) * dx)])
        f = f - f[mid] + p["b"]
        psi = hermite_functions(f, n_levels - 1) * jnp.sqrt(fp)[:, None]
        dpsi = jnp.gradient(psi, dx, axis=0)
        return jnp.sum(0.5 * dpsi ** 2 + psi ** 2 * vx[:, None], axis=0) * dx

    def free(p):
        e = levels(p)
        if kT == 0:
            return e[0]
        e0 = jnp.min(e)
        return e0 - kT * jnp.log(jnp.sum(jnp.exp(-(e - e0) / kT)))

    p = {"a": jnp.asarray(0.5 * np.log(omega)), "b": jnp.asarray(0.0),
         "c": jnp.zeros(int(n_rbf))}
    opt = optax.adam(0.01)
    state = opt.init(p)

    @jax.jit
    def step(p, state):
        f, g = jax.value_and_grad(free)(p)
        u, state = opt.update(g, state)
        return optax.apply_updates(p, u), state, f

    for _ in range(int(iterations)):
        p, state, _ = step(p, state)
    return float(free(p)), np.asarray(levels(p))

"""Observables of a trained NCT density matrix, with error bars.

- :func:`thermodynamics`: F, E, K, V (sample means; standard errors from independent samples
  or, for Metropolis chains, from batch means), S from the occupation model (exact for the
  factorised p_n: S = -kB sum_k sum_j p_kj ln p_kj), and (E - F)/T as a cross-check.
- :func:`stress`: stress tensor and pressure.  sigma = sigma_V - (2/V) K_ab with sigma_V the
  strain derivative of the potential, (1/V) dV/d(eps) (ASE sign: positive = tensile) and
  K_ab = sum_i <p_ia p_ib> / 2 m_i the kinetic tensor; its trace is the kinetic energy from
  the main estimator, its traceless part comes from the gradient form
  hbar^2/(2 m_i) <d_ia ln Psi d_ib ln Psi>.  P = -tr(sigma)/3, reported in GPa.
- :func:`excitation_energies`: anharmonic single-phonon energies w_k = E(1_k) - E(0) of the
  trained flow (paired samples: the same uniforms drive both states, so the difference has a
  small variance) and the anharmonic zero-point energy E(0) - V(x0).
- :func:`phonon_dos`: Gaussian-broadened density of states of a set of mode energies.
- :func:`radial_distribution`: g(r) of sampled positions (periodic, minimal).
"""

from __future__ import annotations

import numpy as np

from qfe import units
from qfe._jax import jax, jnp


def mean_and_error(values, blocked: bool = False):
    """Mean and standard error of values (n_batches, B).  ``blocked``: errors from batch
    means (correlated samples within and between batches, e.g. Metropolis chains)."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[None, :]
    if blocked and v.shape[0] >= 2:
        means = v.mean(axis=1)
        return float(means.mean()), float(means.std(ddof=1) / np.sqrt(means.size))
    flat = v.ravel()
    return float(flat.mean()), float(flat.std(ddof=1) / np.sqrt(flat.size))


def thermodynamics(values: dict, system, temperature: float, entropy_over_kB: float,
                   blocked: bool = False) -> dict:
    """{name: (value, error)} in system energy units (entropy in units of kB)."""
    out = {}
    for name, key in (("F", "free_energy"), ("E", "energy"), ("K", "kinetic"),
                      ("V", "potential")):
        out[name] = mean_and_error(values[key], blocked)
    out["S"] = (float(entropy_over_kB), 0.0)
    if temperature > 0:
        diff = np.asarray(values["energy"]) - np.asarray(values["free_energy"])
        m, e = mean_and_error(diff, blocked)
        kT = system.kT(temperature)
        out["S_from_F"] = (m / kT, e / kT)
    return out


def cartesian_log_psi_gradient(system, g_q):
    """d ln Psi / dx (..., d) from d ln Psi / dq (..., M): q = A^+ (x - x0),
    A^+ = L^-1 E^T M^(1/2), so d/dx = M^(1/2) E L^-1 d/dq."""
    a = np.asarray(system.displacement)                       # M^-1/2 E L
    m = np.asarray(system.masses)
    lengths = np.linalg.norm(np.sqrt(m)[:, None] * a, axis=0)
    e = np.sqrt(m)[:, None] * a / lengths[None, :]
    mat = np.sqrt(m)[:, None] * e / lengths[None, :]          # (d, M)
    return g_q @ mat.T


def stress(trainer, state, n_batches: int = 4, key=None) -> dict:
    """Stress tensor (3, 3) and pressure with errors, GPa (ASE sign for the tensor)."""
    system = trainer.system
    if system.stress_fn is None or system.cell is None:
        raise ValueError("stress needs a periodic crystal (ModeSystem with cell and stress_fn)")
    volume = abs(float(np.linalg.det(system.cell)))
    n = system.natoms
    le = trainer.local_energy
    fp = state.params["flow"]
    stress_batch = jax.jit(jax.vmap(lambda x: system.stress_fn(x)))
    grad_batch = jax.jit(jax.vmap(le.log_psi_grad, in_axes=(None, 0, 0)))
    m = np.asarray(system.masses).reshape(n, 3)[:, 0]
    pref = system.hbar ** 2 / (2.0 * m * system.mvv2e)      # energy * length^2 per atom
    pot, kin_t, kin = [], [], []
    for batch, aux, _ in trainer.sample_batches(state, n_batches, key):
        x = system.positions(jnp.asarray(batch["q"]))
        pot.append(np.asarray(stress_batch(x)))                       # (B, 3, 3) eV/A^3
        gx = cartesian_log_psi_gradient(system, np.asarray(grad_batch(fp, batch["q"],
                                                                       batch["n"])))
        gx = gx.reshape(gx.shape[0], n, 3)
        kin_t.append(np.einsum("i,bia,bic->bac", pref, gx, gx))        # gradient-form K_ab
        kin.append(np.asarray(aux["kinetic"]))
    pot = np.concatenate(pot)
    kin_t = np.concatenate(kin_t)
    kin = np.concatenate(kin)
    traceless = kin_t - np.einsum("bcc->b", kin_t)[:, None, None] * np.eye(3) / 3.0
    k_tensor = traceless + kin[:, None, None] * np.eye(3) / 3.0
    samples = (pot - 2.0 * k_tensor / volume) * units.EV_PER_A3_TO_GPA
    pressure = -np.einsum("bcc->b", samples) / 3.0
    return {"stress_GPa": samples.mean(axis=0),
            "stress_err_GPa": samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0]),
            "pressure_GPa": mean_and_error(pressure),
            "potential_pressure_GPa": mean_and_error(
                -np.einsum("bcc->b", pot) / 3.0 * units.EV_PER_A3_TO_GPA),
            "kinetic_pressure_GPa": mean_and_error(
                2.0 * kin / (3.0 * volume) * units.EV_PER_A3_TO_GPA)}


def excitation_energies(trainer, state, batch_size: int = 64, key=None,
                        modes=None) -> dict:
    """E(0), the anharmonic ZPE E(0) - V0 and w_k = E(1_k) - E(0) with errors (system units).

    For each mode k, the same uniforms u give xi^(0) = F_0^-1(u) and xi^(1_k) (mode k replaced
    by F_1^-1(u_k)); both are mapped through f^-1 and their local energies differenced.
    """
    system = trainer.system
    m = system.n_modes
    modes = np.arange(m) if modes is None else np.asarray(modes, dtype=int)
    key = jax.random.fold_in(state.key, 104729) if key is None else key
    fp = state.params["flow"]
    hermite = trainer.sampler._hermite if hasattr(trainer.sampler, "_hermite") else None
    if hermite is None:
        from qfe.nct.basis import HermiteSampler

        hermite = HermiteSampler(trainer.occupation.n_levels - 1)
    flow = trainer.flow
    le = trainer.local_energy
    ku, kp = jax.random.split(key)
    u = jax.random.uniform(ku, (batch_size, m), minval=1e-12, maxval=1.0 - 1e-12)
    n0 = jnp.zeros((batch_size, m), dtype=jnp.int32)
    xi0 = hermite.quantile(u, n0)
    probe_keys = jax.random.split(kp, batch_size)

    @jax.jit
    def energies(xi, n):
        q = jax.vmap(lambda z: flow.inverse(fp, z)[0])(xi)
        v, t = jax.vmap(le.local, in_axes=(None, 0, 0, 0))(fp, q, n, probe_keys)
        return v + t

    e0 = np.asarray(energies(xi0, n0))
    xi1_all = hermite.quantile(u, jnp.ones_like(n0))
    w, w_err = [], []
    for k in modes:
        xi = xi0.at[:, k].set(xi1_all[:, k])
        n = n0.at[:, k].set(1)
        d = np.asarray(energies(xi, n)) - e0
        w.append(d.mean())
        w_err.append(d.std(ddof=1) / np.sqrt(d.size))
    e0_mean, e0_err = float(e0.mean()), float(e0.std(ddof=1) / np.sqrt(e0.size))
    return {"ground_state_energy": (e0_mean, e0_err),
            "zpe_anharmonic": (e0_mean - system.v0, e0_err),
            "zpe_harmonic": system.harmonic_zpe(),
            "modes": modes, "w": np.asarray(w), "w_err": np.asarray(w_err),
            "w_harmonic": np.asarray(system.hbar_omega)[modes]}


def ground_state_energy(trainer, state, batch_size: int = 256, n_batches: int = 1,
                        key=None) -> tuple[float, float]:
    """E(0) of the trained flow's ground state n = 0 (system units), with its error."""
    m = trainer.system.n_modes
    key = jax.random.fold_in(state.key, 15485863) if key is None else key
    fp = state.params["flow"]
    from qfe.nct.basis import HermiteSampler

    hermite = HermiteSampler(trainer.occupation.n_levels - 1)
    flow, le = trainer.flow, trainer.local_energy

    @jax.jit
    def energies(key):
        kx, kp = jax.random.split(key)
        n0 = jnp.zeros((batch_size, m), dtype=jnp.int32)
        xi = hermite.sample(kx, n0)
        q = jax.vmap(lambda z: flow.inverse(fp, z)[0])(xi)
        v, t = jax.vmap(le.local, in_axes=(None, 0, 0, 0))(fp, q, n0,
                                                            jax.random.split(kp, batch_size))
        return v + t

    values = [np.asarray(energies(k)) for k in jax.random.split(key, int(n_batches))]
    return mean_and_error(np.concatenate(values))


def phonon_dos(energies, grid=None, width: float | None = None, n_grid: int = 400):
    """Gaussian-broadened DOS (normalised to the number of modes) of mode energies.

    Returns (grid, dos); width defaults to 2% of the largest energy.
    """
    e = np.asarray(energies, dtype=float).ravel()
    if grid is None:
        top = max(float(np.max(np.abs(e))), 1e-12)
        grid = np.linspace(min(0.0, float(e.min())) - 0.05 * top, 1.1 * top, n_grid)
    grid = np.asarray(grid, dtype=float)
    if width is None:
        width = 0.02 * max(float(np.max(np.abs(e))), 1e-12)
    dos = np.exp(-0.5 * ((grid[:, None] - e[None, :]) / width) ** 2).sum(axis=1)
    return grid, dos / (width * np.sqrt(2.0 * np.pi))


def radial_distribution(positions, cell, r_max: float, n_bins: int = 100):
    """g(r) averaged over configurations (S, N, 3) in a periodic cell (minimum image over a
    3x3x3 block of images; r_max must stay below the smallest cell height)."""
    pos = np.asarray(positions, dtype=float)
    if pos.ndim == 2:
        pos = pos[None]
    cell = np.asarray(cell, dtype=float)
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    if r_max > heights.min():
        raise ValueError(f"r_max = {r_max} A exceeds the smallest cell height "
                         f"{heights.min():.3f} A")
    s, n, _ = pos.shape
    shifts = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1],
                                  indexing="ij")).reshape(3, -1).T @ cell
    edges = np.linspace(0.0, r_max, n_bins + 1)
    counts = np.zeros(n_bins)
    for conf in pos:
        d = conf[None, :, None, :] + shifts[None, None, :, :] - conf[:, None, None, :]
        r = np.linalg.norm(d, axis=-1).ravel()
        r = r[(r > 1e-9) & (r < r_max)]
        counts += np.histogram(r, bins=edges)[0]
    volume = abs(np.linalg.det(cell))
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = counts / (s * n * (n / volume) * shell)
    return 0.5 * (edges[1:] + edges[:-1]), g

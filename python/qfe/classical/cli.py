"""``qfe classical``: classical free energies from LAMMPS for any pair style.

    qfe classical bcc.vasp -T 100 --volume-per-atom 19.2 --supercell 3        F(V, T)
    qfe classical bcc.vasp -T 100 --pressure 0 --supercell 3                   G(T, P)
    qfe classical bcc.vasp fcc.vasp --pressure 0 --temperatures 50:300:50 --supercell 3,3,3
                                                       G(T) of each, Delta G, crossing T
    qfe classical fcc.vasp -T 10 --pair-style "lj/cut 8.0" --pair-coeff "* * 0.0104 3.4"

Potentials: ``--potential default`` (qfe's Li model), a DeePMD ``.pb`` file, ``snap-li``,
``lj:epsilon=..,sigma=..,cutoff=..``, ``morse:D=..,a=..,r0=..,cutoff=..``, or any LAMMPS
style with ``--pair-style`` and ``--pair-coeff`` (repeatable).  Units: K, GPa, A^3/atom;
results in eV/atom and meV/atom.  With ``--output DIR``: result.json (and classical.png for a
temperature grid).  Importing this module is cheap; the handler imports LAMMPS.
"""

from __future__ import annotations

import argparse

from qfe._io import write_json_atomic


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "classical", help="classical F(V,T), G(T,P) and phase crossings from LAMMPS "
                          "(Frenkel-Ladd TI, NPT, Gibbs-Helmholtz)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("structures", nargs="+", metavar="STRUCTURE",
                   help="structure file(s) (POSCAR, CIF, extxyz, LAMMPS data, ...)")
    p.add_argument("--temperature", "-T", type=float, default=None, help="temperature (K)")
    p.add_argument("--temperatures", default=None, metavar="T0:T1:DT",
                   help="temperature grid for G(T) (needs --pressure), e.g. 50:300:50")
    p.add_argument("--pressure", "-P", type=float, default=None,
                   help="pressure (GPa): NPT volume and G = F + PV; without it F at the "
                        "structure's (or --volume-per-atom) volume")
    p.add_argument("--volume-per-atom", type=float, default=None,
                   help="scale the structure isotropically to this volume (A^3/atom)")
    p.add_argument("--supercell", default=None, help="repeat the structure: N or N1,N2,N3")
    p.add_argument("--potential", default="default",
                   help="'default', a DeePMD .pb file, 'snap-li', 'lj:...', 'morse:...'")
    p.add_argument("--pair-style", default=None, help="raw LAMMPS pair_style (with --pair-coeff)")
    p.add_argument("--pair-coeff", action="append", default=None,
                   help="raw pair_coeff arguments (repeatable)")
    p.add_argument("--species", default=None,
                   help="elements of the LAMMPS types, comma-separated (default: in order of "
                        "appearance)")
    p.add_argument("--timestep", type=float, default=0.001, help="ps (default %(default)s)")
    p.add_argument("--damping", type=float, default=0.1, help="Langevin time, ps")
    p.add_argument("--switch-steps", type=int, default=10000, help="t_s (default %(default)s)")
    p.add_argument("--equil-steps", type=int, default=2000, help="t_eq (default %(default)s)")
    p.add_argument("--msd-steps", type=int, default=5000,
                   help="NVT sampling steps for the spring constant")
    p.add_argument("--spring-constant", type=float, default=None,
                   help="Einstein spring constant (eV/A^2) instead of the MSD estimate")
    p.add_argument("--repeats", type=int, default=4, help="independent switchings (>= 2)")
    p.add_argument("--npt-steps", type=int, default=10000, help="NPT sampling steps per T")
    p.add_argument("--npt-equil-steps", type=int, default=3000)
    p.add_argument("--barostat", choices=["iso", "aniso", "tri"], default="iso")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--output", "-o", default=None, help="directory for result.json (+ plot)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _grid(text: str) -> list[float]:
    """Temperatures from 'T0:T1:DT' (inclusive) or a comma list 'T1,T2,...'."""
    import numpy as np

    try:
        if ":" not in text:
            return [float(x) for x in text.split(",")]
        vals = [float(x) for x in text.split(":")]
    except ValueError:
        raise ValueError(f"--temperatures must be T0:T1:DT or T1,T2,..., got {text!r}") from None
    if len(vals) != 3 or vals[2] <= 0 or vals[1] < vals[0]:
        raise ValueError(f"--temperatures must be T0:T1:DT with T1 >= T0 and DT > 0, got {text!r}")
    return [float(t) for t in np.arange(vals[0], vals[1] + 0.5 * vals[2], vals[2])]


def _supercell(text):
    if text is None:
        return None
    try:
        vals = [int(x) for x in text.replace("x", ",").split(",")]
    except ValueError:
        raise ValueError(f"--supercell must be N or N1,N2,N3, got {text!r}") from None
    if len(vals) == 1:
        vals *= 3
    return vals


def run(args) -> int:
    from pathlib import Path

    from qfe.classical.frenkel_ladd import FrenkelLaddSettings, frenkel_ladd, prepare_structure
    from qfe.classical.gibbs import (
        NPTSettings,
        crossing_temperature,
        gibbs_curve,
        gibbs_free_energy,
    )
    from qfe.classical.md import MDSettings
    from qfe.classical.model import pair_model

    temps = None
    if args.temperatures:
        if args.pressure is None:
            raise ValueError("--temperatures needs --pressure (G(T) at fixed P)")
        temps = _grid(args.temperatures)
    elif args.temperature is None:
        raise ValueError("give --temperature T (K) or --temperatures with --pressure")
    for t in ([args.temperature] if args.temperature is not None else []) + (temps or []):
        if not t > 0:
            raise ValueError(f"temperature must be positive (K), got {t}")
    if args.repeats < 2:
        raise ValueError(f"--repeats must be >= 2 for an error bar, got {args.repeats}")
    if len(args.structures) > 1 and temps is None:
        raise ValueError("several structures are compared on a --temperatures grid")
    if (args.pair_style is None) != (args.pair_coeff is None):
        raise ValueError("--pair-style and --pair-coeff go together")
    md = MDSettings(timestep=args.timestep, damping=args.damping)
    fl = FrenkelLaddSettings(msd_steps=args.msd_steps, equil_steps=args.equil_steps,
                             switch_steps=args.switch_steps, repeats=args.repeats,
                             seed=args.seed, spring_constant=args.spring_constant, md=md)
    npt = NPTSettings(equil_steps=args.npt_equil_steps, steps=args.npt_steps,
                      barostat=args.barostat, seed=args.seed + 1, md=md)
    supercell = _supercell(args.supercell)
    progress = not args.quiet
    out = {"command": "qfe classical", "units": "eV/atom, meV/atom, K, GPa, A^3/atom"}
    curves = []
    for path in args.structures:
        atoms = prepare_structure(path, volume_per_atom=args.volume_per_atom,
                                  supercell=supercell)
        species = args.species.split(",") if args.species else \
            list(dict.fromkeys(atoms.get_chemical_symbols()))
        model = pair_model(args.pair_style, species, pair_coeff=args.pair_coeff) \
            if args.pair_style else pair_model(args.potential, species)
        entry = {"structure": str(path), "natoms": len(atoms), "potential": model.to_dict()}
        if temps is not None:
            curve, g0, _ = gibbs_curve(atoms, model, temps, args.pressure, npt_settings=npt,
                                       fl_settings=fl, progress=progress, label=str(path))
            curves.append(curve)
            entry["gibbs_T0"] = g0.to_dict()
            entry["gibbs_curve"] = curve.to_dict()
            print(f"{path}: {g0.summary()}")
            for t, g, e in zip(temps, curve.gibbs(temps), curve.gibbs_error(temps)):
                print(f"  G({t:g} K) = {g:.6f} eV/atom +- {1e3 * e:.3f} meV/atom")
        elif args.pressure is not None:
            g = gibbs_free_energy(atoms, model, args.temperature, args.pressure,
                                  npt_settings=npt, fl_settings=fl, progress=progress)
            entry["gibbs"] = g.to_dict()
            print(f"{path}: {g.summary()}")
        else:
            r = frenkel_ladd(atoms, model, args.temperature, settings=fl, progress=progress)
            entry["frenkel_ladd"] = r.to_dict()
            print(f"{path}: {r.summary()}")
        out.setdefault("results", []).append(entry)
    if len(curves) >= 2:
        cross = crossing_temperature(curves[0], curves[1])
        out["crossing"] = cross
        if cross["temperature"] is None:
            print(f"no crossing of G between {cross['t_min_K']:g} and {cross['t_max_K']:g} K")
        else:
            print(f"G({args.structures[0]}) = G({args.structures[1]}) at "
                  f"{cross['temperature']:.1f} +- {cross['error']:.1f} K "
                  f"({args.pressure:g} GPa)")
    if args.output:
        d = Path(args.output)
        d.mkdir(parents=True, exist_ok=True)
        write_json_atomic(d / "result.json", out)
        if curves:
            _plot(curves, d / "classical.png")
        print(f"results in {d.resolve()}")
    return 0


def _plot(curves, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    lo = max(c.temperatures.min() for c in curves)
    hi = min(c.temperatures.max() for c in curves)
    grid = np.linspace(lo, hi, 200)
    ref = curves[0].gibbs(grid)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for c in curves:
        g = 1e3 * (c.gibbs(grid) - ref)
        e = 1e3 * c.gibbs_error(grid)
        ax.plot(grid, g, label=c.label)
        ax.fill_between(grid, g - e, g + e, alpha=0.3)
    ax.set_xlabel("T (K)")
    ax.set_ylabel(f"G - G[{curves[0].label}] (meV/atom)")
    ax.set_title(f"classical G at {curves[0].pressure:g} GPa")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = ["register", "run"]

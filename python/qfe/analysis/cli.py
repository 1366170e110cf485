"""``qfe analyze msd|rmsd|rdf|dos|thermo|symmetry``: trajectory analysis from the command line.

Every command writes ``<output>/<command>.csv`` (tables), ``<output>/<command>.json``
(scalars, settings) and ``<output>/<command>.png`` (matplotlib, Agg) and prints a summary.
Units: A, ps, eV, K, amu; frequencies in THz and meV.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze", help="trajectory analysis: MSD, reordered MSD, RDF, vibrational DOS, "
                        "E/(3NkB) curves, symmetry",
        description="Analyse LAMMPS dumps (text, .gz, binary) and ASE trajectories. "
                    "Units: A, ps, eV, K, amu; frequencies in THz and meV.")
    sub = p.add_subparsers(dest="analysis", metavar="ANALYSIS")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    m = sub.add_parser("msd", help="mean-square displacement per species, diffusion coefficients")
    _trajectory_args(m)
    m.add_argument("--species", help="comma-separated species (element or type); default: each")
    m.add_argument("--fit-window", nargs=2, type=float, metavar=("T_MIN", "T_MAX"),
                   help="time window (ps) of the MSD slope fit (default: 10-50%% of a block)")
    m.add_argument("--blocks", type=int, default=5, help="blocks for the D error (default 5)")
    m.add_argument("--remove-drift", action="store_true",
                   help="subtract the centre-of-mass displacement of the whole system")
    m.set_defaults(func=_run_msd)

    r = sub.add_parser("rmsd", help="permutation-reordered MSD' (optimal assignment of like atoms)")
    _trajectory_args(r)
    r.add_argument("--species", help="comma-separated species (each permuted among its own atoms); "
                                     "default: all atoms")
    r.add_argument("--origins", default="0",
                   help="reference frames (indices in the selection), comma-separated (default 0)")
    r.add_argument("--lag-stride", type=int, default=1, help="use every n-th lag (default 1)")
    r.add_argument("--method", choices=["auto", "dense", "sparse"], default="auto")
    r.add_argument("--cutoff", type=float, help="first candidate cutoff (A) for the sparse method")
    r.set_defaults(func=_run_rmsd)

    g = sub.add_parser("rdf", help="partial radial distribution functions, coordination numbers")
    _trajectory_args(g, needs_time=False)
    g.add_argument("--pairs", help="e.g. 'La-H,H-H' (default: all species pairs)")
    g.add_argument("--rmax", type=float, help="largest distance (A); default half the cell width")
    g.add_argument("--bins", type=int, default=200)
    g.set_defaults(func=_run_rdf)

    d = sub.add_parser("dos", help="vibrational density of states from the VACF, zero-point temperature")
    _trajectory_args(d)
    d.add_argument("--species", help="comma-separated species; default: each and all")
    d.add_argument("--segment", type=int, help="frames per Welch segment (default frames/4)")
    d.add_argument("--window", default="hann", help="window name (scipy.signal.get_window)")
    d.add_argument("--qtb-temperature", type=float,
                   help="trajectory ran under a quantum thermal bath at this T (K): undo the "
                        "quantum energy weighting of the velocity spectrum")
    d.add_argument("--temperatures", default="0,100,200,300,500,1000",
                   help="temperatures (K) for the harmonic E and C_V table")
    d.set_defaults(func=_run_dos)

    t = sub.add_parser("thermo", help="E/(3 N kB) vs T from LAMMPS logs or thermo CSV files")
    t.add_argument("--quantum", nargs="+", default=[], metavar="T=FILE",
                   help="quantum (QTB/PIMD) runs: temperature=log file")
    t.add_argument("--classical", nargs="+", default=[], metavar="T=FILE",
                   help="classical runs: temperature=log file (or FILE: mean Temp column)")
    t.add_argument("--e0", default="classical-fit",
                   help="static-lattice energy per atom (eV), or 'classical-fit' (default)")
    t.add_argument("--column", help="energy column (default TotEng, or PotEng + KinEng)")
    t.add_argument("--discard", type=float, default=0.2, help="fraction dropped as equilibration")
    t.add_argument("--blocks", type=int, default=5)
    t.add_argument("--natoms", type=int, help="atoms (if the log does not say)")
    t.add_argument("--dos-csv", help="dos.csv from `qfe analyze dos`: adds the quantum harmonic curve")
    t.add_argument("-o", "--output", default="qfe-output", help="output directory")
    t.add_argument("--no-plot", action="store_true")
    t.set_defaults(func=_run_thermo)

    s = sub.add_parser("symmetry", help="space group, Wyckoff positions and free coordinates (spglib)")
    s.add_argument("structure", help="structure file (POSCAR, CIF, ...) or trajectory")
    s.add_argument("--symprec", type=float, default=1e-3, help="distance tolerance (A)")
    s.add_argument("--angle-tolerance", type=float, default=-1.0, help="degrees (-1: spglib default)")
    s.add_argument("--frame", type=int, default=-1, help="frame of a trajectory (default last)")
    s.add_argument("--average", action="store_true",
                   help="analyse the time-averaged structure of the trajectory frames selected "
                        "by --start/--stop/--stride")
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--stop", type=int)
    s.add_argument("--stride", type=int, default=1)
    s.add_argument("--format", default="auto")
    s.add_argument("--type-map", help="element names of LAMMPS types, e.g. 'La,H' or '1=La,2=H'")
    s.add_argument("--write-standardized", metavar="FILE",
                   help="write the standardised cell (any ASE format, e.g. POSCAR, .cif)")
    s.add_argument("-o", "--output", default="qfe-output", help="output directory")
    s.set_defaults(func=_run_symmetry)


# --------------------------------------------------------------------------- shared pieces

def _trajectory_args(p, needs_time: bool = True) -> None:
    p.add_argument("trajectory", help="LAMMPS dump (text, .gz, binary .bin) or ASE trajectory")
    p.add_argument("--format", default="auto",
                   choices=["auto", "lammps-dump", "lammps-dump-binary", "ase"])
    p.add_argument("--type-map", help="element names of LAMMPS types, e.g. 'La,H' or '1=La,2=H'")
    p.add_argument("--mass", action="append", default=[], metavar="SPECIES=AMU",
                   help="mass of a species (repeatable); default from element names")
    if needs_time:
        p.add_argument("--timestep", type=float,
                       help="MD timestep in ps (frame time = step x timestep) for LAMMPS dumps")
        p.add_argument("--frame-interval", type=float,
                       help="time between stored frames in ps (ASE files)")
    p.add_argument("--start", type=int, default=0, help="first frame")
    p.add_argument("--stop", type=int, help="stop before this frame")
    p.add_argument("--stride", type=int, default=1, help="use every n-th frame")
    p.add_argument("-o", "--output", default="qfe-output", help="output directory")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")


def _load(args):
    from qfe.analysis.io import read_trajectory

    masses = {}
    for item in args.mass:
        if "=" not in item:
            raise ValueError(f"--mass {item!r}: expected SPECIES=AMU")
        k, v = item.split("=", 1)
        try:
            masses[k] = float(v)
        except ValueError:
            raise ValueError(f"--mass {item!r}: {v!r} is not a number") from None
    return read_trajectory(args.trajectory, args.format, start=args.start, stop=args.stop,
                           stride=args.stride, timestep=getattr(args, "timestep", None),
                           frame_interval=getattr(args, "frame_interval", None),
                           type_map=args.type_map, masses=masses or None, progress=True)


def _comma_list(text: str, option: str, convert=str, expected: str = "names") -> list:
    """``"a, b,c"`` -> ``[convert("a"), ...]``; a ValueError names the option and the text."""
    try:
        return [convert(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected comma-separated {expected}") from None


def _species_list(traj, spec):
    import numpy as np

    if spec:
        out = _comma_list(spec, "--species")
        for s in out:
            traj.select(s)            # raises with the list of present species
        return out
    return sorted(set(np.asarray(traj.species()).tolist()))


def _out(args, name: str) -> str:
    os.makedirs(args.output, exist_ok=True)
    return os.path.join(args.output, name)


def _write_csv(path: str, header: list[str], table) -> None:
    import numpy as np

    np.savetxt(path, np.asarray(table), delimiter=",", header=",".join(header), comments="",
               fmt="%.10g")


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_plot(args, fig, name: str) -> None:
    fig.tight_layout()
    fig.savefig(_out(args, name), dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)


# --------------------------------------------------------------------------- commands

def _run_msd(args) -> int:
    import numpy as np

    from qfe.analysis.msd import diffusion_coefficient, msd

    traj = _load(args)
    species = _species_list(traj, args.species)
    results, fits = {}, {}
    for sp in species:
        results[sp] = msd(traj, sp, remove_drift=args.remove_drift)
        try:
            fits[sp] = diffusion_coefficient(traj, sp, args.fit_window, n_blocks=args.blocks,
                                             remove_drift=args.remove_drift)
        except ValueError as exc:
            if args.fit_window:
                raise
            print(f"qfe analyze msd: no diffusion fit for {sp}: {exc}", file=sys.stderr)
    times = next(iter(results.values())).times
    header = ["time_ps"] + [f"msd_{sp}_A2" for sp in species]
    _write_csv(_out(args, "msd.csv"), header, np.column_stack([times] + [results[s].msd for s in species]))
    summary = {"trajectory": args.trajectory, "n_frames": traj.n_frames,
               "remove_drift": args.remove_drift,
               "species": {sp: {"n_atoms": results[sp].n_atoms,
                                "diffusion": fits[sp].as_dict() if sp in fits else None}
                           for sp in species}}
    _write_json(_out(args, "msd.json"), summary)
    for sp in species:
        line = f"{sp}: {results[sp].n_atoms} atoms, MSD({times[-1]:.4g} ps) = {results[sp].msd[-1]:.4g} A^2"
        if sp in fits:
            f = fits[sp]
            line += (f", D = {f.D:.4g} +- {f.D_err:.2g} A^2/ps ({f.D_cm2_per_s:.3e} cm^2/s, "
                     f"fit {f.window[0]:.3g}-{f.window[1]:.3g} ps, {f.n_blocks} blocks)")
        print(line)
    if not args.no_plot:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        for sp in species:
            ax.plot(times, results[sp].msd, label=sp)
            if sp in fits:
                f = fits[sp]
                tt = np.linspace(*f.window, 2)
                ax.plot(tt, f.slope * tt + f.intercept, "k--", lw=1)
        ax.set_xlabel("t (ps)")
        ax.set_ylabel(r"MSD ($\AA^2$)")
        ax.legend()
        _save_plot(args, fig, "msd.png")
    return 0


def _run_rmsd(args) -> int:
    import numpy as np

    from qfe.analysis.reordered_msd import reordered_msd

    traj = _load(args)
    origins = _comma_list(args.origins, "--origins", int, "frame indices")
    if args.lag_stride < 1:
        raise ValueError(f"--lag-stride must be >= 1, got {args.lag_stride}")
    lags = np.arange(0, traj.n_frames - max(origins), args.lag_stride)
    species = _comma_list(args.species, "--species") if args.species else None
    res = reordered_msd(traj, species, origins=origins, lags=lags, method=args.method,
                        cutoff=args.cutoff, progress=True)
    _write_csv(_out(args, "rmsd.csv"),
               ["time_ps", "msd_prime_A2", "msd_A2", "n_moved", "max_assigned_distance_A"], res.as_table())
    _write_json(_out(args, "rmsd.json"), {
        "trajectory": args.trajectory, "species": res.species, "n_atoms": res.n_atoms,
        "origins": origins, "method": args.method, "final_msd_prime_A2": float(res.msd_prime[-1]),
        "final_msd_A2": float(res.msd[-1]),
        "definition": "MSD' = (1/N) min_P sum_i |mic(r_P(i)(t) - r_i(0))|^2 over permutations "
                      "of like atoms; exact linear assignment"})
    print(f"{res.species}: {res.n_atoms} atoms, at t = {res.times[-1]:.4g}: MSD' = "
          f"{res.msd_prime[-1]:.4g} A^2, MSD = {res.msd[-1]:.4g} A^2, "
          f"{res.n_moved[-1]:.0f} atoms on another atom's site")
    if not args.no_plot:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(res.times, res.msd, label="MSD")
        ax.plot(res.times, res.msd_prime, label="MSD' (reordered)")
        ax.set_xlabel("t (ps)" if traj.times is not None else "lag (frames)")
        ax.set_ylabel(r"$\AA^2$")
        ax.legend()
        _save_plot(args, fig, "rmsd.png")
    return 0


def _run_rdf(args) -> int:
    from qfe.analysis.rdf import rdf

    traj = _load(args)
    res = rdf(traj, args.pairs, r_max=args.rmax, n_bins=args.bins, progress=True)
    names, table = res.table()
    _write_csv(_out(args, "rdf.csv"), names, table)
    info = {"trajectory": args.trajectory, "n_frames": res.n_frames, "r_max_A": float(res.edges[-1]),
            "bins": len(res.r), "pairs": {}}
    for (a, b), g in res.g.items():
        k = int(g.argmax())
        info["pairs"][f"{a}-{b}"] = {"first_peak_A": float(res.r[k]), "g_max": float(g[k])}
        print(f"{a}-{b}: first peak at {res.r[k]:.3f} A (g = {g[k]:.3g}), "
              f"n({res.edges[-1]:.2f} A) = {res.coordination[(a, b)][-1]:.3f}")
    _write_json(_out(args, "rdf.json"), info)
    if not args.no_plot:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        for (a, b), g in res.g.items():
            ax.plot(res.r, g, label=f"{a}-{b}")
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set_xlabel(r"r ($\AA$)")
        ax.set_ylabel("g(r)")
        ax.legend()
        _save_plot(args, fig, "rdf.png")
    return 0


def _run_dos(args) -> int:
    import numpy as np

    from qfe import units
    from qfe.analysis.vdos import vdos

    traj = _load(args)
    temps = _comma_list(args.temperatures, "--temperatures", float, "temperatures in K")
    species = _species_list(traj, args.species)
    sets = [(sp, sp) for sp in species]
    if len(species) > 1 and not args.species:
        sets.append(("all", None))
    elif len(species) == 1 and not args.species:
        sets = [("all", None)]
    results = {name: vdos(traj, sel, segment=args.segment, window=args.window,
                          qtb_temperature=args.qtb_temperature) for name, sel in sets}
    first = next(iter(results.values()))
    cols = [first.nu, first.energy_mev] + [r.g for r in results.values()]
    _write_csv(_out(args, "dos.csv"), ["nu_THz", "energy_meV"] + [f"g_{n}_per_THz" for n in results],
               np.column_stack(cols))
    info = {"trajectory": args.trajectory, "resolution_THz": first.dnu,
            "nyquist_THz": float(first.nu[-1]), "qtb_temperature_K": args.qtb_temperature,
            "normalisation": "integral g(nu) dnu = 3N (modes per THz)",
            "T_zero_definition": "T_zero = (1/(3N kB)) integral g(omega) hbar omega/2 domega "
                                 "(zero-point energy per degree of freedom, in K)",
            "sets": {}}
    for name, r in results.items():
        e = np.atleast_1d(r.harmonic_energy(np.array(temps)))
        cv = np.atleast_1d(r.harmonic_heat_capacity(np.array(temps)))
        info["sets"][name] = {
            "n_atoms": r.n_atoms, "n_modes": r.n_modes, "T_zero_K": r.zero_point_temperature(),
            "zero_point_energy_eV": r.zero_point_energy(),
            "zero_point_energy_eV_per_atom": r.zero_point_energy() / r.n_atoms,
            "mean_frequency_THz": float(np.sum(r.nu * r.g) / np.sum(r.g)),
            "harmonic": [{"T_K": t, "E_eV_per_atom": float(ei / r.n_atoms),
                          "E_over_3NkB_K": float(ei / (3 * r.n_atoms * units.KB)),
                          "Cv_over_3NkB": float(ci / (3 * r.n_atoms * units.KB))}
                         for t, ei, ci in zip(temps, e, cv)]}
        print(f"{name}: {r.n_atoms} atoms, T_zero = {r.zero_point_temperature():.1f} K per degree "
              f"of freedom, zero-point energy {r.zero_point_energy() / r.n_atoms * units.EV_TO_MEV:.2f} meV/atom, "
              f"resolution {r.dnu:.3g} THz")
    _write_json(_out(args, "dos.json"), info)
    if not args.no_plot:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        for name, r in results.items():
            ax.plot(r.nu, r.g / (3 * r.n_atoms), label=name)
        ax.set_xlabel(r"$\nu$ (THz)")
        ax.set_ylabel(r"g($\nu$) / 3N (1/THz)")
        sec = ax.secondary_xaxis("top", functions=(lambda x: x * units.THZ_TO_MEV,
                                                   lambda y: y / units.THZ_TO_MEV))
        sec.set_xlabel("meV")
        ax.legend()
        _save_plot(args, fig, "dos.png")
    return 0


def _run_thermo(args) -> int:
    import numpy as np

    from qfe import units
    from qfe.analysis.thermo import energy_curves, parse_run_spec, plot_energy_curves, thermo_point

    if not args.quantum and not args.classical:
        raise ValueError("give runs with --quantum T=FILE ... and/or --classical T=FILE ...")
    points = []
    for label, specs in (("quantum", args.quantum), ("classical", args.classical)):
        for spec in specs:
            temp, path = parse_run_spec(spec)
            if temp is None and label == "quantum":
                raise ValueError(f"--quantum {spec!r}: give the bath temperature as T=FILE (the "
                                 "kinetic temperature of a quantum run is not T)")
            points.append(thermo_point(path, temp, label, column=args.column, discard=args.discard,
                                       n_blocks=args.blocks, natoms=args.natoms))
    try:
        e0 = float(args.e0)
    except ValueError:
        e0 = args.e0
    curves, e0 = energy_curves(points, e0)
    rows = []
    for c in curves:
        for t, y, dy, e in zip(c.temperature, c.reduced_energy, c.reduced_err, c.energy_per_atom):
            rows.append((c.label, t, e, y, dy))
    with open(_out(args, "thermo.csv"), "w") as fh:
        fh.write("label,T_K,E_eV_per_atom,E_minus_E0_over_3kB_K,err_K\n")
        for r in rows:
            fh.write(f"{r[0]},{r[1]:.6g},{r[2]:.10g},{r[3]:.6g},{r[4]:.3g}\n")
            print(f"{r[0]:>9s} T = {r[1]:8.2f} K: (E - E0)/3kB = {r[3]:9.2f} +- {r[4]:.2f} K")
    harmonic = None
    if args.dos_csv:
        table = np.genfromtxt(args.dos_csv, delimiter=",", names=True)
        names = table.dtype.names or ()
        gcols = [n for n in names if n.startswith("g_all")] or [n for n in names if n.startswith("g_")]
        if "nu_THz" not in names or not gcols:
            raise ValueError(f"{args.dos_csv}: expected the nu_THz and g_... columns of dos.csv")
        gcol = gcols[0]
        nu, g = table["nu_THz"], table[gcol]
        dnu = float(nu[1] - nu[0])
        n3 = float(g.sum() * dnu)
        tmax = max(float(c.temperature.max()) for c in curves)
        tt = np.linspace(0.0, tmax, 100)
        from qfe.analysis.vdos import harmonic_energy

        harmonic = (tt, np.array(harmonic_energy(nu, g, dnu, tt)) / (n3 * units.KB))
    _write_json(_out(args, "thermo.json"), {"e0_eV_per_atom": e0, "discard": args.discard,
                                            "blocks": args.blocks, "n_points": len(rows)})
    print(f"E0 = {e0:.6f} eV/atom")
    if not args.no_plot:
        plot_energy_curves(curves, _out(args, "thermo.png"), harmonic=harmonic)
    return 0


def _run_symmetry(args) -> int:
    from qfe.analysis.io import detect_format, read_trajectory
    from qfe.analysis.symmetry import analyze_symmetry, average_structure, load_structure

    if args.average:
        if detect_format(args.structure) == "ase" and args.format == "auto":
            fmt = "ase"
        else:
            fmt = args.format
        traj = read_trajectory(args.structure, fmt, start=args.start, stop=args.stop,
                               stride=args.stride, type_map=args.type_map, progress=True)
        atoms = average_structure(traj)
    else:
        atoms = load_structure(args.structure, args.frame, type_map=args.type_map)
    res = analyze_symmetry(atoms, symprec=args.symprec, angle_tolerance=args.angle_tolerance)
    print(res.summary())
    data = res.as_dict()
    data["structure"] = args.structure
    data["averaged"] = bool(args.average)
    _write_json(_out(args, "symmetry.json"), data)
    if args.write_standardized:
        import ase.io

        ase.io.write(args.write_standardized, res.standardized_atoms())
    return 0


def main(argv=None) -> int:
    """Entry for ``python -m qfe.analysis.cli`` (same as ``qfe analyze``)."""
    parser = argparse.ArgumentParser(prog="qfe")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["analyze", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())

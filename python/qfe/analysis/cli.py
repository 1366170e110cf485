"""``qfe analyze msd|rmsd|rdf|dos|thermo|symmetry|cage``: trajectory analysis from the command line.

Every command writes ``<output>/<command>.csv`` (tables), ``<output>/<command>.json``
(scalars, settings) and ``<output>/<command>.png`` (matplotlib, Agg) and prints a summary.
Units: A, ps, eV, K, amu; frequencies in THz and meV.
"""

from __future__ import annotations

import argparse
import os
import sys

from qfe._io import write_json_atomic


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze", help="trajectory analysis: MSD, reordered MSD, RDF, vibrational DOS, "
                        "E/(3NkB) curves, symmetry",
        description="Analyse LAMMPS dumps (text, .gz, binary) and ASE trajectories. "
                    "Units: A, ps, eV, K, amu; frequencies in THz and meV.")
    sub = p.add_subparsers(dest="analysis", metavar="ANALYSIS")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    m = sub.add_parser("msd",
                       help="mean-square displacement per species, diffusion coefficients")
    _trajectory_args(m)
    m.add_argument("--species", help="comma-separated species (element or type); default: each")
    m.add_argument("--fit-window", nargs=2, type=float, metavar=("T_MIN", "T_MAX"),
                   help="time window (ps) of the MSD slope fit (default: 10-50%% of a block)")
    m.add_argument("--blocks", type=int, default=5, help="blocks for the D error (default 5)")
    m.add_argument("--remove-drift", action="store_true",
                   help="subtract the centre-of-mass displacement of the whole system")
    m.set_defaults(func=_run_msd)

    r = sub.add_parser("rmsd",
                       help="permutation-reordered MSD' (optimal assignment of like atoms)")
    _trajectory_args(r)
    r.add_argument("--species", help="comma-separated species (each permuted among its own "
                                     "atoms); default: all atoms")
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

    d = sub.add_parser("dos", help="vibrational density of states from the VACF, zero-point "
                                   "temperature")
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
    t.add_argument("--dos-csv",
                   help="dos.csv from `qfe analyze dos`: adds the quantum harmonic curve")
    _output_args(t)
    t.set_defaults(func=_run_thermo)

    s = sub.add_parser("symmetry",
                       help="space group, Wyckoff positions and free coordinates (spglib)")
    s.add_argument("structure", help="structure file (POSCAR, CIF, ...) or trajectory")
    s.add_argument("--symprec", type=float, default=1e-3, help="distance tolerance (A)")
    s.add_argument("--angle-tolerance", type=float, default=-1.0,
                   help="degrees (-1: spglib default)")
    s.add_argument("--frame", type=int, default=-1, help="frame of a trajectory (default last)")
    s.add_argument("--average", action="store_true",
                   help="analyse the time-averaged structure of the trajectory frames selected "
                        "by --start/--stop/--stride")
    _format_args(s)
    _frame_args(s)
    s.add_argument("--write-standardized", metavar="FILE",
                   help="write the standardised cell (any ASE format, e.g. POSCAR, .cif)")
    _output_args(s, plot=False)
    s.set_defaults(func=_run_symmetry)

    c = sub.add_parser("cage",
                       help="LaH10 cage distortion angle theta between H quadrilaterals")
    c.add_argument("trajectory", help="LAMMPS dump, ASE trajectory or structure file")
    _format_args(c)
    _frame_args(c)
    c.add_argument("--metal", default="La", help="species at the cage centres (default La)")
    c.add_argument("--hydrogen", default="H", help="cage species (default H)")
    c.add_argument("--average", action="store_true",
                   help="also analyse the time-averaged structure of the selected frames")
    c.add_argument("--blocks", type=int, default=5, help="blocks for the error (default 5)")
    _output_args(c)
    c.set_defaults(func=_run_cage)


# --------------------------------------------------------------------------- shared pieces

def _trajectory_args(p, needs_time: bool = True) -> None:
    p.add_argument("trajectory", help="LAMMPS dump (text, .gz, binary .bin) or ASE trajectory")
    _format_args(p)
    p.add_argument("--mass", action="append", default=[], metavar="SPECIES=AMU",
                   help="mass of a species (repeatable); default from element names")
    if needs_time:
        p.add_argument("--timestep", type=float,
                       help="MD timestep in ps (frame time = step x timestep) for LAMMPS dumps")
        p.add_argument("--frame-interval", type=float,
                       help="time between stored frames in ps (ASE files)")
    _frame_args(p)
    _output_args(p)


def _format_args(p) -> None:
    from qfe.analysis.io import FORMATS

    p.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    p.add_argument("--type-map", help="element names of LAMMPS types, e.g. 'La,H' or '1=La,2=H'")


def _frame_args(p) -> None:
    p.add_argument("--start", type=int, default=0, help="first frame")
    p.add_argument("--stop", type=int, help="stop before this frame")
    p.add_argument("--stride", type=int, default=1, help="use every n-th frame")


def _output_args(p, plot: bool = True) -> None:
    p.add_argument("-o", "--output", default="qfe-output", help="output directory")
    if plot:
        p.add_argument("--no-plot", action="store_true", help="skip the PNG")


def _load(args):
    from qfe.analysis.io import read_trajectory

    masses = {}
    for item in args.mass:
        key, value = _key_value(item, "--mass", "SPECIES=AMU")
        try:
            masses[key] = float(value)
        except ValueError:
            raise ValueError(f"--mass {item!r}: {value!r} is not a number") from None
    return read_trajectory(args.trajectory, args.format, start=args.start, stop=args.stop,
                           stride=args.stride, timestep=getattr(args, "timestep", None),
                           frame_interval=getattr(args, "frame_interval", None),
                           type_map=args.type_map, masses=masses or None, progress=True)


def _key_value(item: str, option: str, expected: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"{option} {item!r}: expected {expected}")
    key, value = item.split("=", 1)
    return key, value


def _comma_list(text: str | None, option: str, convert=str, expected: str = "names"):
    """``"a, b,c"`` -> ``[convert("a"), ...]`` (None -> None); a ValueError names the option."""
    if text is None:
        return None
    try:
        return [convert(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected comma-separated {expected}") from None


def _out(args, name: str) -> str:
    os.makedirs(args.output, exist_ok=True)
    return os.path.join(args.output, name)


def _write_csv(path: str, header: list[str], table) -> None:
    import numpy as np

    np.savetxt(path, np.asarray(table), delimiter=",", header=",".join(header), comments="",
               fmt="%.10g")


def _write_json(path: str, data: dict) -> None:
    write_json_atomic(path, data, indent=2)


def _write_outputs(args, name: str, *, table=None, info=None, summary: str = "",
                   figure=None) -> None:
    """``<output>/<name>.csv`` from (header, array), ``.json`` from ``info``, the summary on
    stdout and ``.png`` from ``figure()`` (a callable, skipped under --no-plot)."""
    if table is not None:
        _write_csv(_out(args, f"{name}.csv"), *table)
    if info is not None:
        _write_json(_out(args, f"{name}.json"), info)
    if summary:
        print(summary)
    if figure is not None and not getattr(args, "no_plot", False):
        from qfe.analysis.plots import save_figure

        save_figure(figure(), _out(args, f"{name}.png"))


# --------------------------------------------------------------------------- commands

def _run_msd(args) -> int:
    from qfe.analysis.msd import msd_per_species
    from qfe.analysis.plots import msd_figure

    traj = _load(args)
    res = msd_per_species(traj, _comma_list(args.species, "--species"), window=args.fit_window,
                          n_blocks=args.blocks, remove_drift=args.remove_drift)
    for sp, why in res.fit_errors.items():
        print(f"qfe analyze msd: no diffusion fit for {sp}: {why}", file=sys.stderr)
    _write_outputs(args, "msd", table=res.table(),
                   info={"trajectory": args.trajectory, "n_frames": traj.n_frames,
                         **res.as_dict()},
                   summary=res.summary(), figure=lambda: msd_figure(res))
    return 0


def _run_rmsd(args) -> int:
    import numpy as np

    from qfe.analysis.plots import reordered_msd_figure
    from qfe.analysis.reordered_msd import ReorderedMSDResult, reordered_msd

    traj = _load(args)
    origins = _comma_list(args.origins, "--origins", int, "frame indices")
    if args.lag_stride < 1:
        raise ValueError(f"--lag-stride must be >= 1, got {args.lag_stride}")
    lags = np.arange(0, traj.n_frames - max(origins), args.lag_stride)
    res = reordered_msd(traj, _comma_list(args.species, "--species"), origins=origins, lags=lags,
                        method=args.method, cutoff=args.cutoff, progress=True)
    info = {"trajectory": args.trajectory, "origins": origins, "method": args.method,
            **res.as_dict()}
    _write_outputs(args, "rmsd", table=(list(ReorderedMSDResult.COLUMNS), res.as_table()),
                   info=info, summary=res.summary(),
                   figure=lambda: reordered_msd_figure(res, traj.times is not None))
    return 0


def _run_rdf(args) -> int:
    from qfe.analysis.plots import rdf_figure
    from qfe.analysis.rdf import rdf

    traj = _load(args)
    res = rdf(traj, args.pairs, r_max=args.rmax, n_bins=args.bins, progress=True)
    _write_outputs(args, "rdf", table=res.table(),
                   info={"trajectory": args.trajectory, **res.as_dict()},
                   summary=res.summary(), figure=lambda: rdf_figure(res))
    return 0


def _run_dos(args) -> int:
    from qfe.analysis.plots import vdos_figure
    from qfe.analysis.vdos import vdos_by_species, vdos_report, vdos_table

    traj = _load(args)
    temps = _comma_list(args.temperatures, "--temperatures", float, "temperatures in K")
    results = vdos_by_species(traj, _comma_list(args.species, "--species"),
                              segment=args.segment, window=args.window,
                              qtb_temperature=args.qtb_temperature)
    _write_outputs(args, "dos", table=vdos_table(results),
                   info={"trajectory": args.trajectory, **vdos_report(results, temps)},
                   summary="\n".join(r.summary() for r in results.values()),
                   figure=lambda: vdos_figure(results))
    return 0


def _run_thermo(args) -> int:
    from qfe.analysis.plots import energy_curves_figure
    from qfe.analysis.thermo import (
        curves_table,
        energy_curves,
        harmonic_curve,
        parse_e0,
        read_points,
    )

    points = read_points(args.quantum, args.classical, column=args.column, discard=args.discard,
                         n_blocks=args.blocks, natoms=args.natoms)
    curves, e0 = energy_curves(points, parse_e0(args.e0))
    rows = curves_table(curves)
    with open(_out(args, "thermo.csv"), "w") as fh:
        fh.write("label,T_K,E_eV_per_atom,E_minus_E0_over_3kB_K,err_K\n")
        for r in rows:
            fh.write(f"{r[0]},{r[1]:.6g},{r[2]:.10g},{r[3]:.6g},{r[4]:.3g}\n")
            print(f"{r[0]:>9s} T = {r[1]:8.2f} K: (E - E0)/3kB = {r[3]:9.2f} +- {r[4]:.2f} K")
    harmonic = None
    if args.dos_csv:
        from qfe.analysis.vdos import read_vdos_table

        t_max = max(float(c.temperature.max()) for c in curves)
        harmonic = harmonic_curve(*read_vdos_table(args.dos_csv), t_max)
    _write_outputs(args, "thermo",
                   info={"e0_eV_per_atom": e0, "discard": args.discard, "blocks": args.blocks,
                         "n_points": len(rows)},
                   summary=f"E0 = {e0:.6f} eV/atom",
                   figure=lambda: energy_curves_figure(curves, harmonic=harmonic))
    return 0


def _run_symmetry(args) -> int:
    from qfe.analysis.symmetry import analyze_symmetry, average_structure
    from qfe.structures import load_structure

    if args.average:
        from qfe.analysis.io import read_trajectory

        traj = read_trajectory(args.structure, args.format, start=args.start, stop=args.stop,
                               stride=args.stride, type_map=args.type_map, progress=True)
        atoms = average_structure(traj)
    else:
        atoms = load_structure(args.structure, args.frame, type_map=args.type_map)
    res = analyze_symmetry(atoms, symprec=args.symprec, angle_tolerance=args.angle_tolerance)
    _write_outputs(args, "symmetry", info={**res.as_dict(), "structure": args.structure,
                                           "averaged": bool(args.average)},
                   summary=res.summary())
    if args.write_standardized:
        import ase.io

        ase.io.write(args.write_standardized, res.standardized_atoms())
    return 0


def _run_cage(args) -> int:
    import numpy as np

    from qfe.analysis.cage import cage_angles, cage_angles_trajectory
    from qfe.analysis.io import read_trajectory
    from qfe.analysis.plots import cage_figure

    traj = read_trajectory(args.trajectory, args.format, start=args.start, stop=args.stop,
                           stride=args.stride, type_map=args.type_map, progress=True)
    per = cage_angles_trajectory(traj, args.metal, args.hydrogen,
                                 n_blocks=min(args.blocks, traj.n_frames))
    info = {"trajectory": args.trajectory, "n_frames": traj.n_frames, "metal": args.metal,
            "theta_mean_deg": per["mean"], "theta_mean_error_deg": per["error"],
            "theta_min_over_frames_deg": float(per["frame_min"].min())}
    lines = [f"theta (mean over cages and pairs, per frame) = {per['mean']:.3f} +- "
             f"{per['error']:.3f} deg over {traj.n_frames} frames; smallest "
             f"{info['theta_min_over_frames_deg']:.3f} deg"]
    if args.average:
        from qfe.analysis.symmetry import average_structure

        avg = cage_angles(average_structure(traj), args.metal, args.hydrogen)
        info["averaged_structure"] = avg.as_dict()
        lines.append("time-averaged structure: " + avg.summary())
    steps = traj.timesteps if traj.timesteps is not None else np.arange(traj.n_frames)
    table = (["frame", "step", "theta_mean_deg", "theta_min_deg"],
             np.column_stack([np.arange(traj.n_frames), steps, per["frame_mean"],
                              per["frame_min"]]))
    _write_outputs(args, "cage", table=table, info=info, summary="\n".join(lines),
                   figure=lambda: cage_figure(steps, per["frame_mean"], per["frame_min"]))
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

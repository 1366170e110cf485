"""Energy surfaces: the :class:`Potential` interface, analytic models, DeePMD models.

See :mod:`qfe.potentials.base` for the contract (pure JAX ``energy(positions, cell)``).
"""

from qfe.potentials.analytic import EinsteinCrystal, MorseCrystal, PairSpringCrystal
from qfe.potentials.base import Potential

__all__ = ["Potential", "EinsteinCrystal", "PairSpringCrystal", "MorseCrystal"]

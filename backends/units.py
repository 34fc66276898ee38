"""`unit_factor` conversion between Waldur units and backend units, both ways, in one place.

    backend_value = waldur_value * unit_factor
    waldur_value  = backend_value / unit_factor

Rounding rules (docs/units.md):
- Limits going to the backend are integers rounded UP: a quota is never smaller than what Waldur
  sold, and a positive limit never becomes 0 (0.1 backend units -> 1).
- Usage going to Waldur is an integer (the seed's usage report format), rounded half up to the
  nearest unit: monotonic, so a growing backend counter never reports a decrease.
- Limits read back from the backend are divided and kept to 2 decimals (Waldur's precision).
Products are first rounded to 6 decimals so binary float noise (100 * 1.1 = 110.00000000000001)
never pushes a value over an integer boundary, and 8.25 / 1.1 = 7.499999999999999 still
rounds half up to 8.
"""

from __future__ import annotations

import math

_NOISE_DIGITS = 6


def limit_to_backend(waldur_value: float, unit_factor: float) -> int:
    if waldur_value <= 0:
        return 0
    return max(1, math.ceil(round(waldur_value * unit_factor, _NOISE_DIGITS)))


def usage_to_waldur(backend_value: float, unit_factor: float) -> int:
    if backend_value <= 0:
        return 0
    return math.floor(round(backend_value / unit_factor, _NOISE_DIGITS) + 0.5)


def limit_to_waldur(backend_value: float, unit_factor: float) -> float:
    return round(backend_value / unit_factor, 2)

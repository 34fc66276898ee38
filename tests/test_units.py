"""`unit_factor` conversion, both ways, with the rounding rules of docs/units.md."""

import itertools
import math

import pytest

from waldur_site_agent_actors.backends.units import (
    limit_to_backend,
    limit_to_waldur,
    usage_to_waldur,
)

# The seed's SLURM factors: k-Hours -> CPU-minutes, GB-Hours -> MB-minutes.
CPU_K_HOURS = 60000
MEM_GB_HOURS = 61440


# -- the seed's example ------------------------------------------------------------------------


def test_seed_example_usage():
    assert usage_to_waldur(120000, CPU_K_HOURS) == 2
    assert usage_to_waldur(122880, MEM_GB_HOURS) == 2


def test_seed_example_limits():
    assert limit_to_backend(2, CPU_K_HOURS) == 120000
    assert limit_to_backend(2, MEM_GB_HOURS) == 122880
    assert limit_to_waldur(120000, CPU_K_HOURS) == 2
    assert limit_to_waldur(122880, MEM_GB_HOURS) == 2


def test_factor_one_is_identity_for_integers():
    for value in (0, 1, 7, 10**9):
        assert limit_to_backend(value, 1) == value
        assert usage_to_waldur(value, 1) == value
        assert limit_to_waldur(value, 1) == value


def test_fractional_factor():
    # e.g. Waldur sells GB, the backend counts in 0.5 GB blocks... or the other way round.
    assert limit_to_backend(10, 0.5) == 5
    assert usage_to_waldur(5, 0.5) == 10
    assert limit_to_waldur(5, 0.5) == 10


# -- limits to the backend: integers, rounded up, never 0 for a positive limit ------------------


def test_limits_are_rounded_up():
    assert limit_to_backend(1.5, CPU_K_HOURS) == 90000
    assert limit_to_backend(0.00001, CPU_K_HOURS) == 1  # 0.6 CPU-minutes
    assert limit_to_backend(1.1, 3) == 4  # 3.3 -> 4: a quota never smaller than what was sold
    assert limit_to_backend(2.01, 1) == 3


def test_a_positive_limit_never_becomes_zero():
    for value in (0.1, 0.001, 1e-7, 1e-12):
        assert limit_to_backend(value, 1) == 1
    assert limit_to_backend(1e-12, 1e-12) == 1


def test_zero_and_negative_limits_are_zero():
    assert limit_to_backend(0, CPU_K_HOURS) == 0
    assert limit_to_backend(0.0, 1) == 0
    assert limit_to_backend(-5, CPU_K_HOURS) == 0


def test_float_noise_does_not_round_a_limit_up():
    assert 100 * 0.7 == 70.0  # exact in binary: must simply stay 70
    assert limit_to_backend(0.7, 100) == 70
    # These products are a hair above the integer in binary floating point.
    assert 0.07 * 100 > 7 and 1.1 * 100 > 110 and 0.55 * 100 > 55
    assert limit_to_backend(0.07, 100) == 7
    assert limit_to_backend(1.1, 100) == 110
    assert limit_to_backend(0.55, 100) == 55


def test_limits_are_ints():
    assert type(limit_to_backend(1.5, 1)) is int
    assert type(limit_to_backend(0, 1)) is int


def test_limit_round_trip_never_shrinks():
    """Waldur limit -> backend -> Waldur again is at least what Waldur sold (2 decimals)."""
    factors = (1, 3, 0.7, 60, 1024, CPU_K_HOURS, MEM_GB_HOURS, 0.001)
    for cents, factor in itertools.product(range(1, 2000, 7), factors):
        sold = cents / 100
        back = limit_to_waldur(limit_to_backend(sold, factor), factor)
        assert back >= sold, (sold, factor, back)


def test_exact_limits_round_trip_exactly():
    """When the backend value is a whole number, nothing is lost either way."""
    for value, factor in itertools.product((1, 2, 5, 12.5, 100), (2, 60, 1024, CPU_K_HOURS)):
        assert limit_to_waldur(limit_to_backend(value, factor), factor) == value


# -- limits read back: divided, kept to 2 decimals ------------------------------------------------


def test_limits_read_back_keep_two_decimals():
    assert limit_to_waldur(90000, CPU_K_HOURS) == 1.5
    assert limit_to_waldur(1, CPU_K_HOURS) == 0.0  # 0.0000166 k-Hours
    assert limit_to_waldur(100, 3) == 33.33
    assert limit_to_waldur(70, 100) == 0.7
    assert limit_to_waldur(0, CPU_K_HOURS) == 0


# -- usage to Waldur: integers, half up, monotonic ---------------------------------------------


def test_usage_is_rounded_half_up():
    assert usage_to_waldur(89999, CPU_K_HOURS) == 1  # 1.49998
    assert usage_to_waldur(90000, CPU_K_HOURS) == 2  # exactly 1.5: up, not to even
    assert usage_to_waldur(2.5, 1) == 3  # Python's round() would give 2
    assert usage_to_waldur(3.5, 1) == 4
    assert usage_to_waldur(29999, CPU_K_HOURS) == 0
    assert usage_to_waldur(30000, CPU_K_HOURS) == 1


def test_float_noise_does_not_push_usage_below_a_half():
    # 8.25 / 1.1 is 7.4999999... in binary; exactly 7.5 in decimal, so it rounds up.
    assert 8.25 / 1.1 < 7.5
    assert usage_to_waldur(8.25, 1.1) == 8
    assert usage_to_waldur(2.15, 0.1) == 22


def test_usage_is_an_int_and_never_negative():
    assert type(usage_to_waldur(120000.0, CPU_K_HOURS)) is int
    assert usage_to_waldur(0, CPU_K_HOURS) == 0
    assert usage_to_waldur(-100, 1) == 0


@pytest.mark.parametrize("factor", [1, 0.7, 3, 60, 1024, CPU_K_HOURS, MEM_GB_HOURS])
def test_usage_conversion_is_monotonic(factor):
    """A growing backend counter never reports a decrease to Waldur."""
    previous = 0
    step = max(factor / 37, 0.01)
    for i in range(4000):
        value = usage_to_waldur(i * step, factor)
        assert value >= previous, (i * step, factor)
        previous = value


def test_usage_error_is_at_most_half_a_unit():
    for raw, factor in itertools.product(range(0, 500000, 977), (60, 1024, CPU_K_HOURS)):
        assert math.fabs(usage_to_waldur(raw, factor) - raw / factor) <= 0.5 + 1e-9

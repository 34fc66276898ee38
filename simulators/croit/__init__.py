"""A stand-in for Croit's management API (the S3/RadosGW part), for tests and demos."""

from simulators.croit.server import CroitSimulator
from simulators.croit.state import QuotaExceeded

__all__ = ["CroitSimulator", "QuotaExceeded"]

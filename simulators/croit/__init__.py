"""A stand-in for Croit's management API (the S3/RadosGW part), for tests and demos."""

from waldur_site_agent_actors.simulators.croit.server import CroitSimulator
from waldur_site_agent_actors.simulators.croit.state import QuotaExceeded

__all__ = ["CroitSimulator", "QuotaExceeded"]

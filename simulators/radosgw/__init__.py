"""A stand-in for RadosGW's Admin Ops API (Ceph's object gateway), for tests and demos."""

from waldur_site_agent_actors.simulators.croit.state import QuotaExceeded
from waldur_site_agent_actors.simulators.radosgw.server import RadosGWSimulator

__all__ = ["QuotaExceeded", "RadosGWSimulator"]

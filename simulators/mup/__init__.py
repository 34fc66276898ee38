"""A stand-in for MUP, the Portuguese project allocation portal: its REST API, state and rules.

See docs/mup.md. `MupSimulator` is the entry point.
"""

from waldur_site_agent_actors.simulators.mup.simulator import MupSimulator

__all__ = ["MupSimulator"]

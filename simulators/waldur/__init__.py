"""A stateful Waldur Mastermind simulator: REST API, consumer side, events, faults, persistence.

See docs/simulator.md. `WaldurSimulator` is the entry point; `serve` runs it as a command.
"""

from waldur_site_agent_actors.simulators.waldur.simulator import WaldurSimulator

__all__ = ["WaldurSimulator"]

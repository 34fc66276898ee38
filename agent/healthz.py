"""`healthz` (upstream's `waldur_site_healthz`): the probes of a container runtime (Helm's
liveness and readiness probes run it).

Liveness comes from the running agent's own state: its status file (rewritten every 2 s by the
service's main loop, and found where `status` finds it) is younger than `--max-age` seconds, the
process that wrote it is alive, and the service calls itself healthy (no offering given up).
Readiness adds Waldur: an authenticated `GET users/me/?field=uuid` answered for any offering, as
upstream's probe asks. Exit 0 when all is well, with nothing printed; 1 with the reason on
stderr, led by upstream's words; 2 for a config that does not load.
"""

from __future__ import annotations

import argparse
import sys

from waldur_site_agent_actors.agent import status
from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, load_or_report
from waldur_site_agent_actors.config import AgentConfig

PROBE_TIMEOUT = (5.0, 10.0)


def run_healthz(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config_file, strict=False)
    if loaded is None:
        return EXIT_CONFIG
    # The packaged service's own file first, as `status` reads it; in a container, state_dir.
    directory = status.service_directory() or loaded.config.state_dir
    problem = liveness_problem(directory, args.max_age)
    if problem:
        print(f"Heartbeat stale or missing: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    if not args.liveness_only:
        problem = readiness_problem(loaded.config)
        if problem:
            print(f"Cannot reach Waldur API: {problem}", file=sys.stderr)
            return EXIT_FAILURE
    return EXIT_OK


def liveness_problem(state_dir: str, max_age: float) -> str:
    path = status.status_path(state_dir)
    try:
        current, age = status.read(state_dir)
    except FileNotFoundError:
        return f"no {path}: the agent is not running"
    except (OSError, ValueError) as exc:
        return f"{path} is unreadable: {exc}"
    if age >= max_age:
        return f"{path} was written {age:.0f} s ago (at most {max_age:g} s allowed)"
    if not status.pid_alive(current.pid):
        return f"the agent that wrote {path} (pid {current.pid}) is gone"
    if not current.healthy:
        failed = [o.name for o in current.offerings if o.state == "FAILED"]
        return "the agent is unhealthy" + (f": {', '.join(failed)} FAILED" if failed else "")
    return ""


def readiness_problem(config: AgentConfig) -> str:
    """'' when any offering's Waldur answers who its token belongs to; else each one's reason."""
    from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
    from waldur_site_agent_actors.actors.waldur_actor import client_for
    from waldur_site_agent_actors.agent.cli import version
    from waldur_site_agent_actors.config.secrets import SecretFilter, secret_values

    mask = SecretFilter(secret_values(config)).mask
    reasons = []
    for offering in config.offerings:
        client = client_for(offering, config.global_proxy, f"waldur-site-agent/{version()} healthz")
        client.max_attempts, client.timeout = 1, PROBE_TIMEOUT  # a probe answers, never waits
        try:
            client.request("GET", "users/me/", params={"field": ["uuid"]})
            return ""
        except (WaldurError, WaldurUnreachable) as exc:
            reasons.append(f"{offering.name}: {exc}")
        except Exception as exc:  # the OIDC token endpoint failing, a bad proxy URL
            reasons.append(f"{offering.name}: {type(exc).__name__}: {exc}")
        finally:
            client.close()
    return mask("; ".join(reasons))

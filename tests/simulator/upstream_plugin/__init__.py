"""`simmock`, a backend for the upstream agent, made loadable without installing anything."""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pythonpath(scratch: Path) -> str:
    """A PYTHONPATH for the upstream venv under which `simmock` is a registered backend
    (a generated dist-info with the entry point, in `scratch`)."""
    dist = scratch / "plugins" / "simmock-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: simmock\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(
        "[waldur_site_agent.backends]\nsimmock = simmock:SimMockBackend\n"
    )
    return f"{scratch / 'plugins'}{os.pathsep}{HERE}"

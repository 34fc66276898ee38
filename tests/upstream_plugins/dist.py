"""A distribution registering one backend, as an installed one would: its module and its
dist-info (what entry-point discovery reads) in a directory put on PYTHONPATH."""

from __future__ import annotations

from pathlib import Path


def plugin_dist(site: Path, dist: str, name: str, module: str, source: str) -> None:
    """`name` in `waldur_site_agent.backends` is `module:Backend`, `module` holding `source`."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[waldur_site_agent.backends]\n{name} = {module}:Backend\n"
    )

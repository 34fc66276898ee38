"""Pin requirements with hashes: `python lock.py WANTED.txt OUT.lock` (run by `build --relock`).

pip resolves WANTED (wheels only, for this interpreter and platform) and downloads them; every
wheel becomes one `name==version --hash=sha256:...` line, which `pip --require-hashes` enforces.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path


def pins(wanted: Path, into: Path) -> list[str]:
    download = [sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:"]
    subprocess.run([*download, "-r", str(wanted), "-d", str(into)], check=True)
    lines = []
    for wheel in sorted(into.glob("*.whl"), key=lambda p: p.name.lower()):
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    return lines


def main(wanted: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        lines = pins(Path(wanted), Path(scratch))
    header = "# Written by `packaging/build --relock`; every wheel pinned by hash.\n"
    Path(out).write_text(header + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])

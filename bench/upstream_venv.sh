#!/bin/sh
# A cached venv holding the upstream agent from PyPI, for bench/cli_start.py.
# Installs only when the venv (or its waldur_site_agent command) is missing; prints the version.
# Usage: bench/upstream_venv.sh            -> prints "<venv path> <upstream version>"
#        PYTHON=python3.12 bench/upstream_venv.sh   (interpreter for the venv; default python3)
set -eu

cache="${XDG_CACHE_HOME:-$HOME/.cache}/waldur-site-agent-bench"
venv="$cache/upstream-venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/waldur_site_agent" ]; then
    mkdir -p "$cache"
    rm -rf "$venv"
    echo "creating $venv (pip install waldur-site-agent waldur-site-agent-slurm)" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet waldur-site-agent waldur-site-agent-slurm >&2
fi

version="$("$venv/bin/python" -c \
    'from importlib.metadata import version; print(version("waldur-site-agent"))')"
echo "$venv $version"

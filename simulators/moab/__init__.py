"""A stand-in for Moab Accounting Manager's command-line clients (`mam-*`), state in SQLite.

MAM is commercial and cannot run here. `install.install(directory, db)` writes one small
executable per `mam-*` command into `directory`; put it first on PATH and the `moab` backend (or
an operator) runs them exactly as it would run the real clients. Every process shares the SQLite
file named by `MAM_SIM_DB` (the path given to `install` unless the variable is set).

    python -m waldur_site_agent_actors.simulators.moab install /tmp/mam-bin --db /tmp/mam.sqlite
    PATH=/tmp/mam-bin:$PATH mam-list-accounts
"""

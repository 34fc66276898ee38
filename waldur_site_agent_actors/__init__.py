"""The agent's one installed namespace: `agent`, `actors`, `backends`, `config`, `simulators`.

In the repository these folders sit at the top (this folder links them); installed, they live
here, so site-packages holds no generic top-level name that another package could shadow.
"""

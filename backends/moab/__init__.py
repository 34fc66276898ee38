"""The `moab` backend: Moab Accounting Manager accounts, funds and charges through `mam-*`."""

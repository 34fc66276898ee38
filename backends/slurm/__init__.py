"""The SLURM plugin: accounts, associations, limits, QoS and usage through sacctmgr and sacct."""

"""Croit S3: one RadosGW user per marketplace resource, through Croit's management API.

Registered as `ceph_s3` (upstream's current name), `croit_s3` (the seed's: the same backend,
also showing a key in the resource metadata, as upstream's `croit_s3` did) and `croit_usage`
(the same backend reporting storage in GB-days from Croit's statistics).
"""

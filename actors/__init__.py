"""Actors: supervisor, offering actors and their children (order, usage, membership, backend)."""

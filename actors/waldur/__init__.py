"""Talking to Waldur Mastermind over its REST API."""

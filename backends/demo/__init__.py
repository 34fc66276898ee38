"""The `demo` backend: accounts, limits, associations and generated usage in a SQLite file.

A real plugin (registered through its entry point like any other) that needs no system of its
own, so the demo and the agent's end-to-end tests run anywhere.
"""

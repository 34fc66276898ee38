"""The `mup` backend: Waldur resources as allocations in MUP, the Portuguese allocation portal.

A Waldur project is a MUP project (found by the grant number in the project's name), a resource
is one MUP allocation per component, project members are MUP project members. See docs/mup.md.
"""

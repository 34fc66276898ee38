"""Stand-ins for systems that cannot run here (Waldur, MOAB, MUP, Croit).

Never imported by production code: only the `demo` and `simulator` commands and the tests.
"""

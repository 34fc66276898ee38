"""LDAP: POSIX users and groups as upstream's LDAP plugin keeps them, for two plugins."""

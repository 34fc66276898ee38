"""Plugin API: BaseBackend, BaseClient, structures, command execution, discovery."""

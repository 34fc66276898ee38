"""A plugin written as the Plugin Development Guide teaches (shared/seeds), for upstream's core.

Its imports, its pyproject and its usage report are the guide's; its "external system" is a
JSON file (`backend_settings.state_file`), so a test can look at what the plugin did.
"""

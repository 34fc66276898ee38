"""Configuration: the file format (msgspec Structs), loading, validation and secret handling."""

from waldur_site_agent_actors.config.load import ConfigError, Loaded, load_file, load_mapping
from waldur_site_agent_actors.config.model import MODES, AgentConfig, Component, Mode, Offering

__all__ = [
    "MODES",
    "AgentConfig",
    "Component",
    "ConfigError",
    "Loaded",
    "Mode",
    "Offering",
    "load_file",
    "load_mapping",
]

"""Settings and component schemas, as the guide registers them (pydantic, upstream's bases)."""

from waldur_site_agent.common.plugin_schemas import (
    PluginBackendSettingsSchema,
    PluginComponentSchema,
)


class MyCustomBackendSettingsSchema(PluginBackendSettingsSchema):
    state_file: str
    default_account: str = "root"
    customer_prefix: str = ""
    project_prefix: str = ""
    allocation_prefix: str = ""


class MyCustomComponentSchema(PluginComponentSchema):
    backend_name: str | None = None

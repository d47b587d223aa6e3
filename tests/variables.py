"""The environment variables Coursegraph reads: the kernel's and every section's."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from coursegraph.settings import Settings
from subgraphs.courses.settings import CoursesSettings
from subgraphs.files.settings import FilesSettings
from subgraphs.payments.settings import PaymentsSettings
from subgraphs.users.settings import UsersSettings

SETTINGS: tuple[type[BaseSettings], ...] = (
    Settings,
    UsersSettings,
    CoursesSettings,
    PaymentsSettings,
    FilesSettings,
)


def variable_names(settings: type[BaseSettings]) -> set[str]:
    """What `settings` reads, upper case; a nested model `x` reads `X_<FIELD>`."""
    prefix = settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        own = alias if isinstance(alias, str) else prefix + name
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names |= {f"{own}_{inner}" for inner in nested.model_fields}
        else:
            names.add(own)
    return {name.upper() for name in names}


def all_variable_names() -> set[str]:
    return set().union(*(variable_names(settings) for settings in SETTINGS))

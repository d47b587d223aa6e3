"""The courses subgraph's settings section (COURSES_*)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from coursegraph.settings import Section


class CoursesSettings(Section):
    model_config = SettingsConfigDict(env_prefix="courses_")

    max_page_size: int = 100  # largest `first` that `courses(...)` accepts
    # Largest lecture video courses asks files to accept; files applies its own limit too.
    max_video_bytes: int = 5 * 1024**3

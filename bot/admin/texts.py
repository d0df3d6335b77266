"""The admin chat's words, from texts.yaml beside this file."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml


@lru_cache(maxsize=1)
def _texts() -> dict[str, str]:
    raw = yaml.safe_load(resources.files("bot.admin").joinpath("texts.yaml").read_text("utf-8"))
    return {str(key): str(value).strip() for key, value in raw.items()}


def text(key: str, **values: object) -> str:
    """The text for `key`, with its `{name}` values filled (values as given: escape them
    first when the result is HTML)."""
    result = _texts()[key]
    for name, value in values.items():
        result = result.replace(f"{{{name}}}", str(value))
    return result

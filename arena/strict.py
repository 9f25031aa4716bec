"""`Strict`, the pydantic base of config sections: unknown keys are errors that name the nearest valid key."""
from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

# Standalone so that arena.config and arena.bench.config (which arena.config imports) can both use it.

SECRET_KEYS = {"api_key", "apikey", "key", "token", "secret", "password", "openai_api_key"}


class Strict(BaseModel):
    """Base for config sections: unknown keys are rejected with the nearest valid key."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # keys users put in this section that belong to an enclosing one: key -> where they go
    misplaced: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        valid = set(cls.model_fields)
        for key in data:
            if key in valid:
                continue
            if str(key).lower() in SECRET_KEYS:
                raise ValueError(
                    f"'{key}': API keys are never written in the config; put the key in an "
                    "environment variable and name it with 'api_key_env' (e.g. api_key_env: OPENAI_API_KEY)"
                )
            if key in cls.misplaced:
                raise ValueError(cls.misplaced[key])
            close = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.5)
            tip = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(valid))}"
            raise ValueError(f"unknown key '{key}'; {tip}")
        return data

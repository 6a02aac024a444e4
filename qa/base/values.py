"""Setting values: one environment string turned into its field's type, and the range checks every group shares."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from qa.base.errors import ConfigError

ENV_PREFIX = "QA_"


def parse_value(name: str, kind: Any, raw: str) -> Any:
    """Turn one environment string into the field's type, or fail naming the variable."""
    env = ENV_PREFIX + name.upper()
    if isinstance(kind, str) and kind.endswith(" | None"):
        kind = kind.removesuffix(" | None")
    text = raw.strip()
    if not text:
        raise ConfigError(f"{env} is empty; set it to a value or unset it")
    try:
        if kind in ("int", int):
            return int(text)
        if kind in ("float", float):
            value = float(text)
            if not math.isfinite(value):
                raise ConfigError(f"{env}={raw!r} is not a finite number; set a number such as 0.5, or unset it")
            return value
        if kind in ("bool", bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in ("Path", Path):
            return Path(text)
    except ValueError:
        raise ConfigError(f"{env}={raw!r} is not a valid {kind} value; fix it or unset it") from None
    return text


def check_finite(group: Any) -> None:
    """Fail on the first number field that is not finite (nan, inf)."""
    for field in dataclasses.fields(group):
        value = getattr(group, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            bad(field.name, value, "must be a finite number")


def check_positive(group: Any, *names: str) -> None:
    """Fail on the first named field that is not a positive number."""
    for name in names:
        value = getattr(group, name)
        if value <= 0:
            bad(name, value, "must be a positive number")


def bad(name: str, value: object, why: str) -> None:
    """Raise a ConfigError that names the setting, its environment variable and the bad value."""
    raise ConfigError(f"setting {name} (env {ENV_PREFIX}{name.upper()}) = {value!r}: {why}")


def comma_list(text: str) -> tuple[str, ...]:
    """Items of a comma-separated setting (``llm_allowed``, ``cors_origins``), stripped, no blanks or repeats."""
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))

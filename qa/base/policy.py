"""The values of the access policy: API keys (listed, or one a line in a file) and a rate limit (``N/unit``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, NamedTuple, cast, get_args

Unit = Literal["second", "minute", "hour", "day"]
UNITS: tuple[Unit, ...] = get_args(Unit)
MIN_KEY_CHARS = 16
KEY = re.compile(r"[!-+\--~]+")  # printable ASCII without spaces or commas: fits a header, splits cleanly
RATE = re.compile(r"(\d+)\s*/\s*([a-z]+?)s?")
PATH_PREFIXES = ("/", "./", "../", "~")
NEW_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class Rate(NamedTuple):
    """At most ``requests`` per ``unit``."""

    requests: int
    unit: Unit


def parse_rate(text: str) -> Rate | None:
    """A rate from ``20/second``, ``600/minute``, ``10000/day`` (None: empty or ``off``), or ValueError saying why."""
    value = text.strip().lower()
    if value in ("", "off"):
        return None
    found = RATE.fullmatch(value)
    unit = found.group(2) if found else ""
    if found is None or unit not in UNITS:
        raise ValueError(f"write COUNT/UNIT, e.g. 20/second or 600/minute (units: {', '.join(UNITS)}), or off")
    count = int(found.group(1))
    if count < 1:
        raise ValueError("the count must be at least 1 (off turns the limit off)")
    return Rate(count, cast(Unit, unit))


def parse_keys(text: str) -> tuple[str, ...]:
    """The API keys a setting names: comma-separated, or a file path (starting /, ./, ../ or ~) with one a line.

    In a file, blank lines and lines starting ``#`` are skipped. Raises ValueError saying what is wrong, never
    quoting a key.
    """
    value = text.strip()
    if not value:
        return ()
    if value.startswith(PATH_PREFIXES):
        path = Path(value).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the key file {path}: {getattr(exc, 'strerror', None) or exc}") from None
        keys = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        where = f"the key file {path}"
        if not keys:
            raise ValueError(f"{where} holds no key (one a line; blank and # lines are skipped)")
    else:
        keys = [key.strip() for key in value.split(",") if key.strip()]
        where = "the list"
    for number, key in enumerate(keys, 1):
        if len(key) < MIN_KEY_CHARS or not KEY.fullmatch(key):
            raise ValueError(
                f"key {number} of {where} is not a usable key: use at least {MIN_KEY_CHARS} printable characters "
                f"without spaces or commas, e.g. from {NEW_KEY}"
            )
    return tuple(dict.fromkeys(keys))

"""Access settings: API keys (a list or a file) and the rate limit, parsed and checked at start, keys never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.base.errors import ConfigError
from qa.base.policy import Rate, parse_keys, parse_rate
from qa.base.settings import Settings

KEY_A = "a" * 16
KEY_B = "Zx9_-.~+/=!@#$%^&*()"  # every safe kind of character, 20 of them


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/second", Rate(20, "second")),
        ("600/minute", Rate(600, "minute")),
        (" 5 / Hour ", Rate(5, "hour")),
        ("10000/days", Rate(10000, "day")),
        ("", None),
        ("off", None),
        ("OFF", None),
    ],
)
def test_rates(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["20", "20/fortnight", "per second", "0/second", "-1/minute", "1.5/second", "20/s"])
def test_bad_rates_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"COUNT/UNIT|at least 1"):
        parse_rate(text)


def test_bad_rate_fails_at_start_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"QA_RATE_LIMIT.*20/fortnight.*second, minute, hour, day"):
        Settings.from_env({"QA_RATE_LIMIT": "20/fortnight"})
    assert Settings.from_env({"QA_RATE_LIMIT": "3/minute"}).access.rate_limit == "3/minute"


def test_keys_are_comma_separated_stripped_and_deduplicated() -> None:
    assert parse_keys("") == ()
    assert parse_keys(f" {KEY_A} , {KEY_B},{KEY_A}, ") == (KEY_A, KEY_B)


def test_keys_from_a_file_skip_blank_and_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(f"# the frontend\n{KEY_A}\n\n   \n  # rotated 2025-01\n  {KEY_B}  \n")
    assert parse_keys(str(path)) == (KEY_A, KEY_B)
    settings = Settings.from_env({"QA_API_KEYS": str(path)})
    assert parse_keys(settings.access.api_keys) == (KEY_A, KEY_B)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the key file"), ("# only a comment\n\n", "holds no key"), ("short\n", "key 1 of the key")],
)
def test_bad_key_files_fail_saying_why(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "keys.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env({"QA_API_KEYS": str(path)})
    assert "QA_API_KEYS" in str(caught.value)


@pytest.mark.parametrize("bad", ["tooshort", "has a space in the middle", "x" * 15, "ünïcödé-ünïcödé-ünïcödé"])
def test_unusable_keys_fail_without_quoting_any_key(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"QA_API_KEYS": f"{KEY_A},{bad}"})
    message = str(caught.value)
    assert "QA_API_KEYS" in message and "key 2 of the list" in message and "16 printable characters" in message
    assert bad not in message and KEY_A not in message


def test_keys_never_show_in_the_settings_repr(tmp_path: Path) -> None:
    settings = Settings.from_env({"QA_API_KEYS": f"{KEY_A},{KEY_B}", "QA_READ_KEYS_REQUIRED": "true"})
    assert settings.access.read_keys_required is True
    text = repr(settings) + str(settings) + repr(settings.access)
    assert KEY_A not in text and KEY_B not in text and "api_keys" not in text
    assert "read_keys_required=True" in text


def test_read_keys_required_needs_keys() -> None:
    with pytest.raises(ConfigError, match=r"QA_READ_KEYS_REQUIRED.*QA_API_KEYS"):
        Settings.from_env({"QA_READ_KEYS_REQUIRED": "true"})


def test_http_settings_for_the_public() -> None:
    settings = Settings.from_env({"QA_OTEL": "true", "QA_FORWARDED_ALLOW_IPS": "10.0.0.5,10.0.0.6"})
    assert settings.http.otel is True and settings.http.forwarded_allow_ips == "10.0.0.5,10.0.0.6"
    defaults = Settings()
    assert defaults.http.otel is False and defaults.http.forwarded_allow_ips == "127.0.0.1"
    assert defaults.access.rate_limit == "" and defaults.access.read_keys_required is False

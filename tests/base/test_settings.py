"""Settings: defaults, parsing QA_* variables, and errors that name the variable and the bad value."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.base.errors import ConfigError
from qa.base.settings import DEFAULT_ENCODING, DEFAULT_MODEL, Settings


def test_defaults_are_valid() -> None:
    settings = Settings()
    assert settings.build.model == DEFAULT_MODEL
    assert settings.build.encoding == DEFAULT_ENCODING
    assert 0 <= settings.build.chunk_overlap < settings.build.chunk_tokens
    assert 1 <= settings.answers.default_top_k <= settings.answers.max_top_k
    assert settings.build.corpus_dir == Path("seeds")
    assert Settings.from_env({}) == settings


def test_from_env_parses_types() -> None:
    settings = Settings.from_env({"QA_CHUNK_TOKENS": "128", "QA_EMBED_TITLE": "false", "QA_INDEX_DIR": "/x"})
    assert settings.build.chunk_tokens == 128
    assert settings.build.embed_title is False
    assert settings.build.index_dir == Path("/x")
    assert settings.build.chunk_overlap == Settings().build.chunk_overlap


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"QA_ABSTAIN_THRESHOLD": " 0.45 "}, "abstain_threshold", 0.45),
        ({"QA_PORT": "9000"}, "port", 9000),
        ({"QA_HOST": "0.0.0.0"}, "host", "0.0.0.0"),
        ({"QA_MODEL": "/models/minilm"}, "model", "/models/minilm"),
        ({"QA_CORPUS_DIR": "articles"}, "corpus_dir", Path("articles")),
        ({"QA_EMBED_TITLE": "YES"}, "embed_title", True),
        ({"QA_EMBED_TITLE": "0"}, "embed_title", False),
        ({"QA_EMBED_TITLE": "off"}, "embed_title", False),
        ({"QA_LOCK_INDEX": "1"}, "lock_index", "all"),
        ({"QA_LOCK_INDEX": " Search "}, "lock_index", "search"),
        ({"QA_LOCK_INDEX": "false"}, "lock_index", "off"),
        ({"QA_LOCK_INDEX": "all"}, "lock_index", "all"),
    ],
)
def test_from_env_values(env: dict[str, str], field: str, value: object) -> None:
    assert Settings.from_env(env).value(field) == value


def test_every_field_has_an_environment_variable() -> None:
    ints = [f.name for f in Settings.fields() if f.type in ("int", int)]
    assert len(ints) >= 10
    env = {"QA_" + name.upper(): "7" for name in ints}
    env["QA_CHUNK_OVERLAP"] = "3"
    settings = Settings.from_env(env)
    for name in ints:
        if name != "chunk_overlap":
            assert settings.value(name) == 7, name


def test_overrides_win_and_none_overrides_are_ignored() -> None:
    settings = Settings.from_env({"QA_PORT": "9000", "QA_CHUNK_TOKENS": "128"}, port=9100, chunk_tokens=None)
    assert settings.http.port == 9100
    assert settings.build.chunk_tokens == 128


def test_from_env_ignores_unrelated_variables() -> None:
    env = {"PATH": "/usr/bin", "QA_NOT_A_SETTING": "x", "qa_port": "abc", "HOME": "/root", "PORT": "-1"}
    assert Settings.from_env(env) == Settings()


@pytest.mark.parametrize(
    ("env", "var", "bad"),
    [
        ({"QA_CHUNK_TOKENS": "abc"}, "QA_CHUNK_TOKENS", "abc"),
        ({"QA_CHUNK_TOKENS": "12.5"}, "QA_CHUNK_TOKENS", "12.5"),
        ({"QA_CHUNK_TOKENS": "0"}, "QA_CHUNK_TOKENS", "0"),
        ({"QA_CHUNK_OVERLAP": "224"}, "QA_CHUNK_OVERLAP", "224"),
        ({"QA_CHUNK_TOKENS": "64", "QA_CHUNK_OVERLAP": "80"}, "QA_CHUNK_OVERLAP", "80"),
        ({"QA_CHUNK_OVERLAP": "-1"}, "QA_CHUNK_OVERLAP", "-1"),
        ({"QA_PORT": "0"}, "QA_PORT", "0"),
        ({"QA_PORT": "70000"}, "QA_PORT", "70000"),
        ({"QA_BODY_TIMEOUT": "0"}, "QA_BODY_TIMEOUT", "0"),
        ({"QA_BODY_TIMEOUT": "-1.5"}, "QA_BODY_TIMEOUT", "-1.5"),
        ({"QA_BODY_TIMEOUT": "inf"}, "QA_BODY_TIMEOUT", "inf"),
        ({"QA_ABSTAIN_THRESHOLD": "2"}, "QA_ABSTAIN_THRESHOLD", "2"),
        ({"QA_ABSTAIN_THRESHOLD": "high"}, "QA_ABSTAIN_THRESHOLD", "high"),
        ({"QA_EMBED_TITLE": "maybe"}, "QA_EMBED_TITLE", "maybe"),
        ({"QA_DEFAULT_TOP_K": "60"}, "QA_DEFAULT_TOP_K", "60"),
        ({"QA_BATCH_SIZE": "-4"}, "QA_BATCH_SIZE", "-4"),
        ({"QA_MAX_HISTORY_TURNS": "-1"}, "QA_MAX_HISTORY_TURNS", "-1"),
        ({"QA_MAX_HISTORY_CHARS": "-5"}, "QA_MAX_HISTORY_CHARS", "-5"),
        ({"QA_DENSE_WEIGHT": "0", "QA_KEYWORD_WEIGHT": "0"}, "QA_DENSE_WEIGHT", "0"),
        ({"QA_LOCK_INDEX": "vectors"}, "QA_LOCK_INDEX", "vectors"),
    ],
)
def test_bad_values_name_the_variable_and_value(env: dict[str, str], var: str, bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert var in message
    assert bad in message


@pytest.mark.parametrize("var", ["QA_INDEX_DIR", "QA_CORPUS_DIR", "QA_MODEL", "QA_PORT", "QA_EMBED_TITLE"])
def test_empty_values_are_errors(var: str) -> None:
    with pytest.raises(ConfigError, match=f"{var} is empty"):
        Settings.from_env({var: "  "})


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="QA_CHUNK_OVERLAP"):
        Settings.of(chunk_tokens=10, chunk_overlap=10)
    with pytest.raises(ConfigError, match="QA_PORT"):
        Settings().replace(port=-5)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().http.port = 1  # type: ignore[misc]


def test_replace_checks_and_keeps_other_fields() -> None:
    base = Settings.from_env({"QA_CHUNK_TOKENS": "128"})
    changed = base.replace(port=9001)
    assert (changed.http.port, changed.build.chunk_tokens) == (9001, 128)
    assert base.http.port == 8000


def test_nothing_is_read_at_import_time() -> None:
    env = {
        **os.environ,
        "QA_CHUNK_TOKENS": "abc",
        "QA_PORT": "-1",
        "QA_EMBED_TITLE": "maybe",
        "QA_INDEX_DIR": "",
        "QA_ENCODING": "nonsense",
    }
    code = (
        "import qa.base.settings, qa.store.chunking, qa.store.corpus, qa.store.index; "
        "print(qa.base.settings.Settings().build.chunk_tokens)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(Settings().build.chunk_tokens)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "NaN", "Infinity", " -Infinity ", "1e999"])
@pytest.mark.parametrize("var", ["QA_DENSE_WEIGHT", "QA_ABSTAIN_THRESHOLD", "QA_LLM_TIMEOUT", "QA_BM25_K1"])
def test_non_finite_numbers_in_the_environment_are_refused(var: str, raw: str) -> None:
    with pytest.raises(ConfigError, match="not a finite number") as info:
        Settings.from_env({var: raw})
    assert f"{var}={raw!r}" in str(info.value)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("var", ["QA_PORT", "QA_CHUNK_TOKENS", "QA_MAX_BODY_BYTES"])
def test_non_finite_words_are_not_whole_numbers(var: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=f"{var}='{raw}' is not a valid int"):
        Settings.from_env({var: raw})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(
    "name",
    ["dense_weight", "keyword_weight", "sentence_weight", "abstain_threshold", "bm25_b", "llm_timeout",
     "llm_temperature", "chunk_tokens", "port", "max_body_bytes"],
)  # fmt: skip
def test_non_finite_numbers_in_direct_construction_are_refused(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"setting {name} \(env QA_{name.upper()}\) = -?(nan|inf): must be"):
        Settings.of(**{name: value})


def test_a_lock_scope_out_of_the_list_names_the_ones_there_are() -> None:
    with pytest.raises(ConfigError, match="must be one of off, search, all"):
        Settings.of(lock_index="hot")
    assert Settings.of(lock_index=True).build.lock_index == "all"

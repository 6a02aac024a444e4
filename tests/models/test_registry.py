"""The model registry: built-ins, unknown names, entry points from an installed (fake) distribution, extractive."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.base.errors import ConfigError, InvalidInput, NotFound
from qa.base.settings import Settings
from qa.base.values import comma_list
from qa.models import registry as llm
from qa.models.extractive import ExtractiveModel
from qa.models.interface import Message, Prompt
from qa.models.registry import ENTRY_POINT_GROUP, Registry, choose_model, get_model, known_models

EXTRACT = "In early 2025, the BYC held a massive protest rally in Dalbandin. [1] It drew thousands. [3]"


def prompt(extract: str = EXTRACT) -> Prompt:
    return Prompt(question="Where was the rally?", messages=(Message("user", "q"),), passages=(), extract=extract)


def test_builtins_are_known() -> None:
    assert {"extractive", "openai"} <= set(known_models())
    assert isinstance(get_model("extractive", Settings().models), ExtractiveModel)


def test_extractive_streams_the_extract_in_pieces() -> None:
    pieces = list(get_model("extractive", Settings().models).stream(prompt()))
    assert "".join(pieces) == EXTRACT
    assert len(pieces) == 2
    assert pieces[0].endswith("[1] ")
    assert list(ExtractiveModel().stream(prompt(""))) == []


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(NotFound) as err:
        get_model("gpt-17", Settings().models)
    message = str(err.value)
    assert "'gpt-17'" in message
    assert "extractive" in message and "openai" in message
    assert ENTRY_POINT_GROUP in message


def test_register_in_code() -> None:
    registry = Registry(group="articleqa.tests.none")

    class Echo:
        name = "echo"

        def stream(self, prompt: Prompt) -> Iterator[str]:
            yield prompt.question

    registry.register("echo", lambda settings: Echo())
    assert registry.known() == ["echo"]
    assert list(registry.get("echo", Settings().models).stream(prompt())) == ["Where was the rally?"]
    with pytest.raises(ValueError, match="comma"):
        registry.register("a,b", lambda settings: Echo())


def test_factory_must_return_a_model() -> None:
    registry = Registry(group="articleqa.tests.none")
    registry.register("bad", lambda settings: object())  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="not a model"):
        registry.get("bad", Settings().models)


def test_choose_model_respects_the_allow_list() -> None:
    settings = Settings.of(llm_allowed="extractive")
    assert choose_model(None, settings.models).name == "extractive"
    assert choose_model("extractive", settings.models).name == "extractive"
    with pytest.raises(InvalidInput, match="must be one of extractive"):
        choose_model("openai", settings.models)
    with pytest.raises(NotFound, match="no language model named 'mystery'"):
        choose_model("mystery", Settings.of(llm_allowed="extractive,mystery").models)


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package installed the way pip would: a module and a dist-info folder advertising entry points."""
    (tmp_path / "articleqa_fakebackend.py").write_text(
        textwrap.dedent(
            """
            from collections.abc import Iterator

            class Shout:
                name = "shout"

                def __init__(self, settings):
                    self.limit = settings.llm_max_tokens

                def stream(self, prompt) -> Iterator[str]:
                    yield prompt.question.upper()[: self.limit]

            def factory(settings):
                return Shout(settings)

            NOT_CALLABLE = 42
            """
        ),
        encoding="utf-8",
    )
    info = tmp_path / "articleqa_fakebackend-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: articleqa-fakebackend\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "shout = articleqa_fakebackend:factory\n"
        "broken = articleqa_missing_module:factory\n"
        "number = articleqa_fakebackend:NOT_CALLABLE\n"
        "[console_scripts]\nunrelated = articleqa_fakebackend:factory\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("articleqa_fakebackend", None)


def test_entry_point_from_an_installed_distribution(fake_distribution: Path) -> None:
    registry = Registry()
    registry.register("extractive", llm.extractive_factory)
    assert {"shout", "broken", "number", "extractive"} <= set(registry.known())
    model = registry.get("shout", Settings.of(llm_max_tokens=5).models)
    assert model.name == "shout"
    assert list(model.stream(prompt())) == ["WHERE"]


def test_broken_entry_point_is_reported_and_spares_the_builtins(fake_distribution: Path) -> None:
    registry = Registry()
    registry.register("extractive", llm.extractive_factory)
    with pytest.raises(ConfigError) as err:
        registry.get("broken", Settings().models)
    message = str(err.value)
    assert "articleqa_missing_module:factory" in message
    assert "articleqa-fakebackend 1.2.3" in message
    assert "ModuleNotFoundError" in message
    with pytest.raises(ConfigError, match="not a factory"):
        registry.get("number", Settings().models)
    assert registry.get("extractive", Settings().models).name == "extractive"
    assert registry.get("shout", Settings().models).name == "shout"


def test_default_registry_finds_new_packages_after_refresh(fake_distribution: Path) -> None:
    llm.REGISTRY.refresh()
    try:
        assert "shout" in known_models()
        assert get_model("shout", Settings().models).name == "shout"
    finally:
        llm.REGISTRY.refresh()


def test_code_registration_wins_over_entry_points(fake_distribution: Path) -> None:
    registry = Registry()
    registry.register("shout", llm.extractive_factory)
    assert registry.get("shout", Settings().models).name == "extractive"


def test_unreadable_metadata_does_not_break_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(**_: object) -> object:
        raise RuntimeError("corrupt metadata")

    monkeypatch.setattr(importlib.metadata, "entry_points", explode)
    registry = Registry()
    registry.register("extractive", llm.extractive_factory)
    assert registry.known() == ["extractive"]
    assert registry.get("extractive", Settings().models).name == "extractive"


def test_builtins_are_declared_as_entry_points() -> None:
    try:
        declared = {ep.name: ep.value for ep in importlib.metadata.distribution("articleqa").entry_points}
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("articleqa is not installed")
    if "extractive" not in declared:
        pytest.skip("installed metadata predates the entry points; reinstall with pip install -e .")
    assert declared["extractive"] == "qa.models.extractive:extractive_factory"
    assert declared["openai"] == "qa.models.openai_chat:factory"
    registry = Registry()  # nothing registered in code: the entry points alone
    assert registry.get("extractive", Settings().models).name == "extractive"
    assert registry.get("openai", Settings.of(llm_name="m").models).name == "openai"


def test_model_settings_are_checked() -> None:
    settings = Settings.from_env({"QA_LLM_ALLOWED": " extractive , openai,,openai ", "QA_LLM_TEMPERATURE": "0.7"})
    assert comma_list(settings.models.llm_allowed) == ("extractive", "openai")
    assert settings.models.llm_temperature == 0.7
    with pytest.raises(ConfigError, match=r"llm_model \(env QA_LLM_MODEL\) = 'openai': must be one of llm_allowed"):
        Settings.of(llm_model="openai", llm_allowed="extractive")
    with pytest.raises(ConfigError, match="QA_LLM_NAME"):
        Settings.of(llm_model="openai")
    with pytest.raises(ConfigError, match="QA_LLM_ALLOWED"):
        Settings.of(llm_allowed=" , ")
    with pytest.raises(ConfigError, match="QA_LLM_BASE_URL"):
        Settings.of(llm_base_url="127.0.0.1:8080")
    for field, value in [
        ("llm_temperature", 2.5),
        ("llm_timeout", 0.0),
        ("llm_max_tokens", 0),
        ("llm_max_retries", -1),
        ("context_tokens", 0),
    ]:
        with pytest.raises(ConfigError, match=f"QA_{field.upper()}"):
            Settings.of(**{field: value})


def test_api_key_stays_out_of_repr() -> None:
    settings = Settings.from_env({"QA_LLM_API_KEY": "sk-very-secret"})
    assert settings.models.llm_api_key == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings)

"""Language models by name: a registry filled in code and from the ``articleqa.models`` entry-point group."""

from __future__ import annotations

import importlib.metadata
import threading

from qa.base.errors import ConfigError, InvalidInput, NotFound
from qa.base.settings import ModelSettings
from qa.models.extractive import extractive_factory
from qa.models.interface import Factory, LanguageModel

ENTRY_POINT_GROUP = "articleqa.models"


class Registry:
    """Model factories by name: registered in code, or found in the ``articleqa.models`` entry-point group."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._factories: dict[str, Factory] = {}
        self._entry_points: dict[str, importlib.metadata.EntryPoint] = {}
        self._discovered = False
        self._lock = threading.Lock()

    def register(self, name: str, factory: Factory) -> None:
        """Make ``factory`` the model called ``name``; names registered in code win over entry points."""
        if not name or not name.strip() or "," in name:
            raise ValueError(f"model name {name!r} must be non-empty and contain no comma")
        self._factories[name] = factory

    def known(self) -> list[str]:
        """Every model name, registered or advertised by an installed package, sorted."""
        self._discover()
        return sorted(set(self._factories) | set(self._entry_points))

    def factory(self, name: str) -> Factory:
        """The factory of a model by name: NotFound listing the known names, ConfigError if its package is broken."""
        self._discover()
        if name in self._factories:
            return self._factories[name]
        point = self._entry_points.get(name)
        if point is None:
            raise NotFound(
                f"no language model named {name!r}; known: {', '.join(self.known())} "
                f"(a package can add one under the entry-point group {self.group})"
            )
        where = f"entry point {point.name} = {point.value} in group {self.group}{_distribution(point)}"
        try:
            loaded = point.load()
        except Exception as exc:
            raise ConfigError(
                f"language model {name!r} cannot be loaded from {where}: {type(exc).__name__}: {exc}; "
                "reinstall or fix that package, or choose another model"
            ) from exc
        if not callable(loaded):
            raise ConfigError(f"language model {name!r}: {where} is not a factory (a callable taking Settings)")
        with self._lock:
            self._factories.setdefault(name, loaded)
        return self._factories[name]

    def get(self, name: str, settings: ModelSettings) -> LanguageModel:
        """A new model instance by name, built from the settings."""
        model = self.factory(name)(settings)
        if not isinstance(model, LanguageModel):
            raise ConfigError(f"language model {name!r}: its factory returned {type(model).__name__}, not a model")
        return model

    def refresh(self) -> None:
        """Forget the entry points seen so far; the next lookup scans installed packages again."""
        with self._lock:
            self._entry_points, self._discovered = {}, False

    def _discover(self) -> None:
        """Read the entry-point group once; a broken package is reported only when its name is asked for."""
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            try:
                points = importlib.metadata.entry_points(group=self.group)
            except Exception:  # unreadable metadata must not take the built-ins down
                points = importlib.metadata.EntryPoints(())
            for point in points:
                self._entry_points.setdefault(point.name, point)
            self._discovered = True


def _distribution(point: importlib.metadata.EntryPoint) -> str:
    """`` (distribution name version)`` of an entry point when known, else nothing."""
    dist = getattr(point, "dist", None)
    if dist is None:
        return ""
    try:
        return f" (package {dist.metadata['Name']} {dist.version})"
    except Exception:
        return ""


def _openai_factory(settings: ModelSettings) -> LanguageModel:
    """Build the openai model, importing its client only when it is first used."""
    from qa.models.openai_chat import factory

    return factory(settings)


REGISTRY = Registry()
# Built-ins are also declared as entry points in pyproject.toml; registering them here keeps them working when
# the installed package metadata is stale or missing.
REGISTRY.register("extractive", extractive_factory)
REGISTRY.register("openai", _openai_factory)


def register(name: str, factory: Factory) -> None:
    """Register a model factory under ``name`` in the default registry."""
    REGISTRY.register(name, factory)


def known_models() -> list[str]:
    """The names of every model the default registry knows."""
    return REGISTRY.known()


def get_model(name: str, settings: ModelSettings) -> LanguageModel:
    """A model from the default registry by name (NotFound lists the known names)."""
    return REGISTRY.get(name, settings)


def choose_model(requested: str | None, settings: ModelSettings, registry: Registry = REGISTRY) -> LanguageModel:
    """The model a request asks for (``None``: the deployment's ``llm_model``), if ``llm_allowed`` permits it."""
    name = settings.llm_model if requested is None else requested
    allowed = settings.allowed
    if name not in allowed:
        raise InvalidInput(f"model must be one of {', '.join(allowed)} on this server, got {name!r}")
    return registry.get(name, settings)

"""The ``extractive`` model: no language model at all, the engine's extractive answer streamed back as is."""

from __future__ import annotations

import re
from collections.abc import Iterator

from qa.base.settings import ModelSettings
from qa.models.interface import LanguageModel, Prompt

_PIECE = re.compile(r".+?(?:\]\s+|$)", re.S)


class ExtractiveModel:
    """The default model: no language model at all, the engine's extractive answer streamed back as is."""

    name = "extractive"

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """``prompt.extract`` in pieces that end after each ``[n]`` marker; nothing when it is empty."""
        for match in _PIECE.finditer(prompt.extract):
            yield match.group(0)


def extractive_factory(settings: ModelSettings) -> LanguageModel:
    """Build the extractive model (it needs no settings)."""
    return ExtractiveModel()

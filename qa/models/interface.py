"""The language-model interface: chat messages, the prompt a model is given, and the one-method protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

import msgspec

from qa.base.records import Hit
from qa.base.settings import ModelSettings


class Message(msgspec.Struct, frozen=True):
    """One chat message: ``role`` is system, user or assistant."""

    role: str
    content: str


class Prompt(msgspec.Struct, frozen=True, kw_only=True):
    """What a model is asked: chat messages and the passages they number ``[1]..[k]`` (``passages[n - 1]``).

    ``extract`` is the extractive answer over these passages with ``[n]`` markers (backends may ignore it);
    ``dropped`` the ranks of hits left out for lack of room, ``flagged`` the numbers of passages fenced as
    possible instructions, ``context_tokens_used`` the tokens the passages took (see qa/prompt.py).
    """

    question: str
    messages: tuple[Message, ...]
    passages: tuple[Hit, ...]
    extract: str = ""
    dropped: tuple[int, ...] = ()
    flagged: tuple[int, ...] = ()
    context_tokens_used: int = 0


@runtime_checkable
class LanguageModel(Protocol):
    """Anything that turns a prompt into a stream of text pieces."""

    name: str

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """The answer as it is generated, piece by piece; failures raise QAError subclasses (ModelError)."""
        ...


Factory = Callable[[ModelSettings], LanguageModel]

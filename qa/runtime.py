"""The engine's life on the app state: loaded once in the background, then shared by every handler."""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus

from litestar import Litestar
from litestar.datastructures import State

from qa import index as index_files
from qa.config import Settings
from qa.embedding import Encoder, open_encoder
from qa.engine import Engine
from qa.errors import NotReady, QAError
from qa.index import Index
from qa.rerank import open_reranker

log = logging.getLogger("qa.app")
LOADING = "loading the model and index; retry in a few seconds"


def engine_of(state: State) -> Engine:
    """The loaded engine, or the 503 error saying why there is none (yet)."""
    if state.engine is not None:
        return state.engine  # type: ignore[no-any-return]
    error = state.error
    if error is None:
        raise NotReady(LOADING)
    if isinstance(error, QAError) and error.status == HTTPStatus.SERVICE_UNAVAILABLE:
        raise type(error)(str(error))
    if isinstance(error, QAError):
        raise NotReady(str(error))
    raise NotReady("loading the model and index failed unexpectedly; see the server log, fix it and restart")


def load_engine(state: State, index: Index | None, model: Encoder | None) -> None:
    """Load the model and index (in a background thread), leaving the engine or the error on the app state."""
    settings: Settings = state.settings
    try:
        encoder = model or open_encoder(settings)
        loaded = index or index_files.load(settings.index_dir, settings, encoder)
        state.engine = Engine(settings, encoder, loaded, reranker=open_reranker(settings))
        log.info("ready: %d passages from %s", len(state.engine.index.passages), settings.index_dir)
    except QAError as exc:
        log.error("cannot load the engine: %s", exc)
        state.error = exc
    except Exception as exc:
        log.exception("unexpected error loading the engine")
        state.error = exc


def start_loading(app: Litestar, index: Index | None, model: Encoder | None) -> None:
    """On startup, begin loading in the background once, so /healthz answers at once."""
    if app.state.engine is None and app.state.loader is None:
        app.state.loader = threading.Thread(target=load_engine, args=(app.state, index, model), name="qa-load",
                                            daemon=True)
        app.state.loader.start()

"""The app's engine: given at start, or opened once in the background; handlers get it by dependency injection."""

from __future__ import annotations

import logging
import threading

from qa.base.errors import IndexBusy, IndexMismatch, IndexMissing, NotReady, QAError
from qa.base.settings import Settings
from qa.service.engine import Encoder, Engine

log = logging.getLogger("qa.web")
LOADING = "loading the model and index; retry in a few seconds"


class EngineSlot:
    """Holds the app's engine, or the error that stopped it from opening."""

    def __init__(self, settings: Settings, engine: Engine | None = None, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.encoder = encoder
        self.error: BaseException | None = None
        self._loader: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Open the engine in the background, once, so /healthz answers at once; then follow other writers."""
        if self._loader is None:
            self._stop.clear()
            self._loader = threading.Thread(target=self._run, name="qa-load", daemon=True)
            self._loader.start()

    def stop(self) -> None:
        """Stop following other processes' writes."""
        self._stop.set()

    def _run(self) -> None:
        """Open the engine if needed, then replay other processes' writes every ``refresh_seconds``."""
        if self.engine is None:
            self._open()
        interval = self.settings.http.refresh_seconds
        while self.engine is not None and interval > 0 and not self._stop.wait(interval):
            try:
                if self.engine.refresh():
                    log.info("index now at revision %d", self.engine.index.revision)
            except QAError as exc:
                log.warning("cannot catch up with the index on disk (will retry): %s", exc)
            except Exception:
                log.exception("unexpected error catching up with the index on disk (will retry)")

    def _open(self) -> None:
        """Open the engine (model, reranker, index), keeping it or the error."""
        try:
            self.engine = Engine.open(self.settings, self.encoder)
            log.info("ready: %d documents from %s", len(self.engine.index.documents), self.settings.build.index_dir)
        except QAError as exc:
            log.error("cannot open the engine: %s", exc)
            self.error = exc
        except Exception as exc:
            log.exception("unexpected error opening the engine")
            self.error = exc

    def get(self) -> Engine:
        """The engine, or the 503 error saying why there is none (yet)."""
        if self.engine is not None:
            return self.engine
        if self.error is None:
            raise NotReady(LOADING)
        if isinstance(self.error, IndexMissing | IndexMismatch | IndexBusy):
            raise type(self.error)(str(self.error))
        if isinstance(self.error, QAError):
            raise NotReady(str(self.error))
        raise NotReady("loading the model and index failed unexpectedly; see the server log, fix it and restart")

"""The chat widget in real headless Chromium (Debian's, driven by Playwright) against real servers on 127.0.0.1.

Screenshots of each state go to ``build/test-artifacts/widget/`` (or ``$QA_TEST_ARTIFACTS/widget``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import served
from openai_stub import OpenAIStub, Reply
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from qa.base.settings import Settings
from qa.service.engine import Engine
from qa.store.embedding import SentenceEncoder
from qa.store.index import Index
from qa.web.app import create_app

CHROMIUM = os.environ.get("QA_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("QA_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "widget"
QUESTION = "Where did the BYC stage its big rally in early 2025?"
OFF_ARCHIVE = "What is the boiling point of tungsten?"
ACCENT = "#b00020"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, once for the module."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium; a missing binary fails with how to install it (never a skip)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package) or set QA_CHROMIUM")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    """A scripted OpenAI-compatible model server on 127.0.0.1, for answers that are written slowly or fail."""
    with OpenAIStub() as server:
        yield server


@pytest.fixture(scope="module")
def site_settings(seed_settings: Settings, stub: OpenAIStub) -> Settings:
    """The seeds, the stub as the ``openai`` model, and CORS open to the host pages of this module."""
    return seed_settings.replace(
        llm_allowed="extractive,openai", llm_base_url=stub.base_url, llm_name="stub-model", llm_max_retries=0,
        llm_timeout=10.0, cors_origins="*",
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(site_settings: Settings, seed_index: Index, encoder: SentenceEncoder) -> Iterator[str]:
    """Our app on an ephemeral 127.0.0.1 port (its base URL), serving the widget, its demo page and the API."""
    app = create_app(site_settings, engine=Engine(site_settings, encoder, seed_index))
    with served(app, log_level="warning") as port:
        yield f"http://127.0.0.1:{port}"


class HostPages:
    """Another origin on 127.0.0.1 serving host pages that embed the widget (``/<name>`` -> registered HTML)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, str]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                html, policy = owner.pages.get(self.path, ("not found", ""))
                body = html.encode()
                self.send_response(200 if self.path in owner.pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                if policy:
                    self.send_header("Content-Security-Policy", policy)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        """This server's origin."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(
        self, name: str, endpoint: str, *, attributes: str = "", policy: str = "", style: str = "", embed: bool = True
    ) -> str:
        """Register a host page embedding the widget from ``endpoint`` (unless not ``embed``); its URL."""
        head = f'<link rel="stylesheet" href="data:text/css,{style}">' if style else ""
        script = f'<script src="{endpoint}/widget.js" data-endpoint="{endpoint}" {attributes} defer></script>'
        script = script if embed else ""
        body = '<main><h1>A host page</h1><p><a href="#top">a link</a> <button id="own">its button</button></p></main>'
        self.pages["/" + name] = (f"<!doctype html><html><head>{head}</head><body>{body}{script}</body></html>", policy)
        return f"{self.origin}/{name}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hosts() -> Iterator[HostPages]:
    """Host pages on an origin of their own."""
    pages = HostPages()
    yield pages
    pages.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (desktop size) that fails the test on any uncaught script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"uncaught script errors: {errors}"


def shot(page: Page, name: str) -> None:
    """Write a screenshot artefact of the page as it is now."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def widget(page: Page, selector: str) -> Any:
    """A locator inside the widget's shadow root (Playwright's CSS pierces open shadow roots)."""
    return page.locator(f"[data-articleqa] {selector}")


def focused(page: Page) -> str:
    """What has focus inside the widget: tag and class, or ``outside`` when focus is not in the widget."""
    return str(
        page.evaluate(
            """() => { const host = document.querySelector('[data-articleqa]');
                       const el = host && host.shadowRoot.activeElement;
                       return el ? (el.tagName.toLowerCase() + '.' + el.className).replace(/\\.$/, '') : 'outside'; }"""
        )
    )


def ask(page: Page, question: str, *, status: int = 200) -> dict[str, Any]:
    """Type a question into the open widget and send it; the SSE events of the response, by name (last wins).

    The response must have ``status``; an error response has no events (an empty dict).
    """
    turns = widget(page, ".answer").count()
    widget(page, "textarea").fill(question)
    with page.expect_response(lambda r: r.url.endswith("/ask"), timeout=WAIT_MS) as info:
        widget(page, "textarea").press("Enter")
    response = info.value
    assert response.status == status
    widget(page, ".answer[aria-busy=false]").nth(turns).wait_for(timeout=WAIT_MS)
    if status != 200:
        return {}
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse(response.text())


def sse(text: str) -> dict[str, Any]:
    """The events of an SSE body by name, their data decoded (token texts joined)."""
    events: dict[str, Any] = {"token": ""}
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        data = json.loads(fields["data"])
        if fields["event"] == "token":
            events["token"] += data["text"]
        else:
            events[fields["event"]] = data
    return events


def open_widget(page: Page, url: str) -> None:
    """Load a page and open the widget with its launcher."""
    page.goto(url)
    widget(page, ".launcher").click()
    widget(page, ".panel").wait_for(state="visible")


def test_a_seed_question_streams_an_answer_with_markers(page: Page, site: str) -> None:
    open_widget(page, site + "/")
    assert page.locator("main li").count() == 5  # the demo lists the corpus
    events = ask(page, QUESTION)
    citations = events["citations"]["citations"]
    assert events["passages"]["answerable"] is True and citations
    text = widget(page, ".answer .text").last.text_content() or ""
    assert text == events["citations"]["answer"] and "[1]" in text
    markers = widget(page, ".answer .marker")
    assert markers.count() >= 1
    assert {int(markers.nth(i).get_attribute("data-n") or 0) for i in range(markers.count())} <= {
        c["n"] for c in citations
    }
    assert widget(page, ".sources .source").count() == len(citations)
    shot(page, "answer")


def test_a_marker_opens_the_article_with_the_quote_highlighted(page: Page, site: str) -> None:
    open_widget(page, site + "/")
    events = ask(page, QUESTION)
    citation = events["citations"]["citations"][0]
    widget(page, f".answer .marker[data-n='{citation['n']}']").first.click()
    quote = widget(page, ".article mark.quote")
    quote.wait_for(timeout=WAIT_MS)
    article = httpx.get(f"{site}/documents/{citation['doc_id']}", timeout=30).json()
    assert quote.text_content() == article["text"][citation["start"] : citation["end"]] == citation["quote"]
    span = citation["answer_span"]
    assert span is not None, "the seed question's answer carries a short span"
    assert widget(page, ".article mark.span").text_content() == article["text"][span["start"] : span["end"]]
    assert widget(page, ".article").text_content() == article["text"]  # the whole article, nothing added or lost
    assert focused(page) == "mark.quote"
    assert quote.is_visible() and _within(page, ".article mark.quote", ".article")
    shot(page, "article")


def _within(page: Page, inner: str, outer: str) -> bool:
    """Whether the first ``inner`` element's box starts inside the ``outer`` element's visible box."""
    a, b = widget(page, inner).bounding_box(), widget(page, outer).bounding_box()
    assert a is not None and b is not None
    return bool(b["y"] <= a["y"] <= b["y"] + b["height"])


def test_an_off_archive_question_is_an_abstention_with_the_closest_passages(page: Page, site: str) -> None:
    open_widget(page, site + "/")
    events = ask(page, OFF_ARCHIVE)
    assert events["passages"]["answerable"] is False
    answer = widget(page, ".answer").last
    assert "abstained" in (answer.get_attribute("class") or "")
    assert widget(page, ".answer .text").last.text_content() == "The articles do not say."
    closest = widget(page, ".answer .sources .source")
    assert 1 <= closest.count() <= 3
    assert closest.first.text_content() == events["passages"]["passages"][0]["title"]
    assert widget(page, ".answer .marker").count() == 0
    shot(page, "abstention")
    closest.first.click()
    passage = events["passages"]["passages"][0]
    assert widget(page, ".article mark.quote").text_content() == passage["text"]


def test_a_follow_up_carries_the_conversation(page: Page, site: str) -> None:
    open_widget(page, site + "/")
    first = ask(page, QUESTION)
    with page.expect_request(lambda r: r.url.endswith("/ask")) as info:
        widget(page, "textarea").fill("Who led it?")
        widget(page, "textarea").press("Enter")
    widget(page, ".answer[aria-busy=false]").nth(1).wait_for(timeout=WAIT_MS)
    sent = info.value.post_data_json
    assert sent["history"] == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first["citations"]["answer"]},
    ]
    assert sent["stream"] is True and sent["question"] == "Who led it?"
    assert widget(page, ".turn").count() == 2
    shot(page, "follow-up")


def test_a_failed_model_arrives_as_the_error_event_and_is_shown_in_words(
    page: Page, site: str, hosts: HostPages, stub: OpenAIStub
) -> None:
    stub.replies.clear()
    stub.script(Reply.failure(500, "the model crashed"))
    open_widget(page, hosts.page("failing", site, attributes='data-model="openai"'))
    events = ask(page, QUESTION)
    assert "error" in events and "done" not in events
    error = widget(page, ".answer .error[role=alert]")
    assert (error.text_content() or "").startswith("The answer failed: ")
    assert widget(page, ".answer .retry").is_visible()
    assert not widget(page, ".send").is_disabled()
    shot(page, "model-error")
    stub.script(Reply.text("The rally was in ", "Dalbandin [1]."))
    with page.expect_response(lambda r: r.url.endswith("/ask"), timeout=WAIT_MS) as info:
        widget(page, ".answer .retry").click()  # asks the same question again, in the same turn
    retried = sse(info.value.text())
    widget(page, ".answer[aria-busy=false]").wait_for(timeout=WAIT_MS)
    assert widget(page, ".turn").count() == 1 and widget(page, ".answer .error").count() == 0
    assert widget(page, ".answer .text").text_content() == retried["citations"]["answer"]
    assert widget(page, ".answer .marker").count() == 1


def test_keyboard_only(page: Page, site: str) -> None:
    page.goto(site + "/")
    for _ in range(20):  # Tab through the page until the launcher has focus
        page.keyboard.press("Tab")
        if focused(page) == "button.launcher":
            break
    assert focused(page) == "button.launcher"
    page.keyboard.press("Enter")
    assert focused(page) == "textarea"
    assert widget(page, ".launcher").get_attribute("aria-expanded") == "true"
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    widget(page, ".answer[aria-busy=false]").wait_for(timeout=WAIT_MS)
    page.keyboard.press("Shift+Tab")  # back from the question box to the last source
    assert focused(page) == "button.source"
    page.keyboard.press("Shift+Tab")
    assert focused(page) in ("button.source", "button.marker")
    page.keyboard.press("Enter")
    widget(page, ".article mark.quote").wait_for(timeout=WAIT_MS)
    assert focused(page) == "mark.quote"
    shot(page, "keyboard-article")
    page.keyboard.press("Escape")  # back to the answer, focus on the citation that opened the article
    assert widget(page, ".reader").is_hidden()
    assert focused(page) in ("button.source", "button.marker")
    page.keyboard.press("Escape")  # closes the panel, focus back on the launcher
    assert widget(page, ".panel").is_hidden()
    assert focused(page) == "button.launcher"
    assert widget(page, ".launcher").get_attribute("aria-expanded") == "false"


def test_roles_and_live_region(page: Page, site: str) -> None:
    open_widget(page, site + "/")
    panel = widget(page, ".panel")
    assert panel.get_attribute("role") == "dialog"
    assert widget(page, "#aqa-title").text_content() == panel.evaluate(
        "p => p.getRootNode().getElementById(p.getAttribute('aria-labelledby')).textContent"
    )
    assert widget(page, ".log").get_attribute("role") == "log"
    assert widget(page, ".log").get_attribute("aria-live") == "polite"
    assert widget(page, ".status").get_attribute("role") == "status"
    assert widget(page, "textarea").get_attribute("aria-label")
    assert widget(page, "button.icon").get_attribute("aria-label") == "Close"


def test_a_360_pixel_phone(browser: Browser, site: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        open_widget(phone, site + "/")
        ask(phone, QUESTION)
        box = widget(phone, ".panel").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["height"] > 300
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        send = widget(phone, ".send").bounding_box()
        assert send is not None and send["x"] + send["width"] <= 360 and send["height"] >= 24
        shot(phone, "phone")
        widget(phone, ".answer .marker").first.click()
        widget(phone, ".article mark.quote").wait_for(timeout=WAIT_MS)
        shot(phone, "phone-article")
    finally:
        context.close()


def _contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """WCAG contrast ratio of two sRGB colours."""

    def lum(rgb: tuple[int, ...]) -> float:
        c = [v / 255 for v in rgb]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css: str) -> tuple[int, ...]:
    """``rgb(r, g, b)`` as a tuple."""
    return tuple(int(float(v)) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


@pytest.mark.parametrize(("accent", "expected"), [(ACCENT, (176, 0, 32)), ("#ffeb3b", None)])
def test_the_accent_is_used_and_kept_readable(
    page: Page, site: str, hosts: HostPages, accent: str, expected: tuple[int, ...] | None
) -> None:
    page.goto(hosts.page(f"accent{accent[1:]}", site, attributes=f'data-accent="{accent}"'))
    launcher = widget(page, ".launcher")
    background = _rgb(launcher.evaluate("b => getComputedStyle(b).backgroundColor"))
    color = _rgb(launcher.evaluate("b => getComputedStyle(b).color"))
    assert _rgb(widget(page, ".launcher .name").evaluate("s => getComputedStyle(s).color")) == color
    if expected:
        assert background == expected
    assert _contrast(background, color) >= 4.5
    widget(page, ".launcher").click()
    ask(page, QUESTION)
    marker = widget(page, ".answer .marker").first
    assert _contrast(_rgb(marker.evaluate("b => getComputedStyle(b).color")), (255, 255, 255)) >= 4.5
    for selector in (".sources q", ".status", ".you"):
        text = _rgb(widget(page, selector).first.evaluate("b => getComputedStyle(b).color"))
        assert _contrast(text, (255, 255, 255)) >= 4.5, selector


def test_a_host_page_on_another_origin_with_a_strict_policy(page: Page, site: str, hosts: HostPages) -> None:
    """The documented CSP lets it run; the host's global CSS does not reach it; it adds no globals."""
    policy = f"default-src 'self'; script-src {site}; style-src 'self' data: {site}; connect-src {site}"
    hostile = "button{background:rgb(0,128,0)!important;color:rgb(255,0,0)!important}*{font-size:40px}"
    page.goto(hosts.page("bare", site, policy=policy, style=hostile, embed=False))
    baseline = set(page.evaluate("Object.getOwnPropertyNames(window)"))
    sheets = page.evaluate("document.styleSheets.length")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(hosts.page("strict", site, policy=policy, style=hostile, attributes='data-lang="fr"'))
    widget(page, ".launcher").wait_for()
    assert set(page.evaluate("Object.getOwnPropertyNames(window)")) == baseline
    assert page.evaluate("document.styleSheets.length") == sheets
    own = page.locator("#own")
    assert own.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(0, 128, 0)"
    launcher = widget(page, ".launcher")
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(0, 128, 0)"
    assert launcher.evaluate("b => getComputedStyle(b).fontSize") == "15px"
    launcher.click()
    assert widget(page, ".send").text_content() == "Envoyer"
    events = ask(page, QUESTION)
    assert events["citations"]["citations"] and widget(page, ".answer .marker").count() >= 1
    widget(page, ".answer .marker").first.click()
    widget(page, ".article mark.quote").wait_for(timeout=WAIT_MS)
    assert not violations, violations
    shot(page, "cross-origin-fr")


def test_rate_limited_and_unreachable_are_said_in_words(
    page: Page, seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder, hosts: HostPages
) -> None:
    settings = seed_settings.replace(rate_limit="2/minute", cors_origins="*")
    with served(create_app(settings, engine=Engine(settings, encoder, seed_index)), log_level="warning") as port:
        endpoint = f"http://127.0.0.1:{port}"
        open_widget(page, hosts.page("limited", endpoint))
        ask(page, QUESTION)
        ask(page, QUESTION)
        ask(page, QUESTION, status=429)
        error = widget(page, ".answer .error").last
        assert (error.text_content() or "").startswith("Too many questions right now. Try again in ")
        shot(page, "rate-limited")
    widget(page, "textarea").fill(QUESTION)  # the server is gone now
    widget(page, "textarea").press("Enter")
    widget(page, ".answer[aria-busy=false]").nth(3).wait_for(timeout=WAIT_MS)
    assert widget(page, ".answer .error").last.text_content() == (
        "The archive could not be reached. Check the connection and try again."
    )
    shot(page, "unreachable")


def _free_port() -> int:
    """A port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def process_server(site_settings: Settings, seed_index: Index, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """``qa serve`` as its own process over a copy of the seed index (its URL and the process), killed at the end."""
    shutil.copytree(site_settings.build.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns(".lock"))
    port = _free_port()
    env = {
        **os.environ, "QA_INDEX_DIR": str(tmp_path / "index"), "QA_CORPUS_DIR": str(site_settings.build.corpus_dir),
        "QA_EMBED_BACKEND": "torch", "QA_LLM_ALLOWED": "extractive,openai", "QA_LLM_NAME": "stub-model",
        "QA_LLM_BASE_URL": str(site_settings.value("llm_base_url")), "QA_LLM_MAX_RETRIES": "0", "QA_CORS_ORIGINS": "*",
        "HF_HUB_OFFLINE": "1",
    }  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    qa = Path(sys.executable).with_name("qa")
    proc = subprocess.Popen(
        [str(qa), "serve", "--no-build", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()


def test_a_server_stopped_mid_stream_is_shown_as_a_cut_answer(
    page: Page, hosts: HostPages, stub: OpenAIStub, process_server: tuple[str, Any]
) -> None:
    url, proc = process_server
    stub.replies.clear()
    stub.script(Reply.slow("The BYC held ", "its rally ", "in Dalbandin ", "[1].", pause=2.0))
    open_widget(page, hosts.page("slow", url, attributes='data-model="openai"'))
    widget(page, "textarea").fill(QUESTION)
    widget(page, "textarea").press("Enter")
    text = widget(page, ".answer .text")
    page.wait_for_function(
        "() => document.querySelector('[data-articleqa]').shadowRoot.querySelector('.answer .text')"
        ".textContent.startsWith('The BYC held')",
        timeout=WAIT_MS,
    )
    assert widget(page, ".answer").get_attribute("aria-busy") == "true"  # streaming, not finished
    assert widget(page, ".status").text_content() == "Writing…"
    shot(page, "streaming")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    widget(page, ".answer[aria-busy=false]").wait_for(timeout=WAIT_MS)
    assert (text.text_content() or "").startswith("The BYC held")  # what arrived stays
    assert widget(page, ".answer .error").text_content() == "The answer was cut off before it finished. Try again."
    assert widget(page, ".status").text_content() == "" and not widget(page, ".send").is_disabled()
    shot(page, "cut-off")


def test_an_answer_that_stops_arriving_is_said_after_the_stall_time(
    page: Page, site: str, hosts: HostPages, stub: OpenAIStub
) -> None:
    stub.replies.clear()
    stub.script(Reply.slow("The BYC held ", "its rally.", pause=5.0))
    open_widget(page, hosts.page("stalling", site, attributes='data-model="openai" data-stall-seconds="2"'))
    widget(page, "textarea").fill(QUESTION)
    widget(page, "textarea").press("Enter")
    widget(page, ".answer[aria-busy=false]").wait_for(timeout=WAIT_MS)
    assert widget(page, ".answer .error").text_content() == "The answer stopped arriving. Try again."
    assert (widget(page, ".answer .text").text_content() or "").startswith("The BYC held")
    shot(page, "stalled")


def test_a_key_is_sent_when_given_and_missing_keys_are_said(
    page: Page, seed_settings: Settings, seed_index: Index, encoder: SentenceEncoder, hosts: HostPages
) -> None:
    key = "widget-test-key-0123456789"
    settings = seed_settings.replace(api_keys=key, read_keys_required=True, cors_origins="*")
    with served(create_app(settings, engine=Engine(settings, encoder, seed_index)), log_level="warning") as port:
        endpoint = f"http://127.0.0.1:{port}"
        open_widget(page, hosts.page("keyless", endpoint))
        ask(page, QUESTION, status=401)
        message = "The archive needs a key for questions; this page has none."
        assert widget(page, ".answer .error").text_content() == message
        open_widget(page, hosts.page("keyed", endpoint, attributes=f'data-api-key="{key}"'))
        with page.expect_request(lambda r: r.url.endswith("/ask") and r.method == "POST") as info:
            events = ask(page, QUESTION)
        assert info.value.headers["authorization"] == f"Bearer {key}"
        assert events["citations"]["citations"]
        widget(page, ".answer .marker").first.click()  # the article is read with the key too
        widget(page, ".article mark.quote").wait_for(timeout=WAIT_MS)

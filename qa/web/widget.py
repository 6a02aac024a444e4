"""The chat widget: ``GET /widget.js`` and ``/widget.css`` for any page to embed, and ``GET /`` a demo page using it.

The files are the package's ``static`` folder, read once; the demo lists the current articles and sends a strict
Content-Security-Policy (no inline script or style), the one a host page needs besides allowing this origin.
"""

from __future__ import annotations

import html
from importlib.resources import files
from string import Template

from litestar import MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

from qa.base.errors import QAError
from qa.web.access import OPEN
from qa.web.runtime import EngineSlot

ASSET_CACHE = "public, max-age=300"
DEMO_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def asset(name: str) -> bytes:
    """A file of the package's ``static`` folder."""
    return (files("qa.web") / "static" / name).read_bytes()


def article_list(slot: EngineSlot) -> str:
    """The articles as an HTML list (escaped), or a line saying the archive is still opening."""
    try:
        docs = slot.get().documents()
    except QAError as exc:
        return f"<p>{html.escape(str(exc))}</p>"
    items = []
    for doc in docs:
        meta = " · ".join(html.escape(part) for part in (doc.author, doc.date) if part)
        items.append(f'<li>{html.escape(doc.title)} <span class="meta">{meta}</span></li>')
    return "<ul>\n" + "\n".join(items) + "\n</ul>" if items else "<p>The archive holds no articles yet.</p>"


def handlers() -> list[HTTPRouteHandler]:
    """The widget's routes (not in the API description: they are pages and files, not API)."""
    script, style, page, page_style = (asset(n) for n in ("widget.js", "widget.css", "demo.html", "demo.css"))
    demo_page = Template(page.decode())
    shared = {"Cache-Control": ASSET_CACHE, "Cross-Origin-Resource-Policy": "cross-origin"}

    @get("/widget.js", include_in_schema=False, sync_to_thread=False, opt=OPEN)
    def widget_script() -> Response[bytes]:
        """The widget: one script a host page embeds with a ``<script src=…/widget.js defer>`` tag."""
        return Response(script, media_type="text/javascript; charset=utf-8", headers=shared)

    @get("/widget.css", include_in_schema=False, sync_to_thread=False, opt=OPEN)
    def widget_style() -> Response[bytes]:
        """The widget's styles, loaded inside its shadow root."""
        return Response(style, media_type="text/css; charset=utf-8", headers=shared)

    @get("/demo.css", include_in_schema=False, sync_to_thread=False, opt=OPEN)
    def demo_style() -> Response[bytes]:
        """The demo page's styles."""
        return Response(page_style, media_type="text/css; charset=utf-8", headers={"Cache-Control": ASSET_CACHE})

    @get("/", include_in_schema=False, sync_to_thread=False, opt=OPEN)
    def demo(request: Request[object, object, State]) -> Response[str]:
        """A page embedding the widget over the current articles."""
        origin = html.escape(str(request.base_url).rstrip("/"))
        body = demo_page.substitute(articles=article_list(request.app.state.slot), origin=origin)
        return Response(body, media_type=MediaType.HTML, headers={"Content-Security-Policy": DEMO_POLICY})

    return [widget_script, widget_style, demo_style, demo]

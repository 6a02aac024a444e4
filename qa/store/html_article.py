"""Article text and metadata from an HTML page: visible text, headline, author, date, outlet and address."""

from __future__ import annotations

from html.parser import HTMLParser

from qa.base.figures import parse_date


class _HTMLText(HTMLParser):
    """Collects visible article text and metadata, skipping scripts, navigation and footers."""

    SKIP = frozenset({"script", "style", "nav", "footer", "header", "aside", "form", "noscript", "figure", "svg"})
    BLOCK = frozenset(
        {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "br", "section", "article", "blockquote", "tr"}
    )
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "param", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self.h1 = ""
        self._skip = 0
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta":
            key = a.get("name") or a.get("property") or ""
            if key and a.get("content"):
                self.meta[key.lower()] = a["content"]
            return
        if tag == "time" and a.get("datetime"):
            self.meta.setdefault("time", a["datetime"])
        if tag in self.SKIP:
            self._skip += 1
        if tag in self.BLOCK:
            self.parts.append("\n\n")
        if tag not in self.VOID:
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag in self.BLOCK:
            self.parts.append("\n\n")
        if tag in self._stack:
            while self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if "title" in self._stack:
            self.title += data
            return
        if "h1" in self._stack:
            self.h1 += data
        self.parts.append(data)


def read_html(raw: str) -> tuple[str, dict[str, str | None]]:
    """An HTML page's visible text and its metadata (title, author, date, source, url) from its tags."""
    parser = _HTMLText()
    parser.feed(raw)
    text = "\n\n".join(" ".join(block.split()) for block in "".join(parser.parts).split("\n\n") if block.strip())
    meta = parser.meta
    title = " ".join((meta.get("og:title") or parser.h1 or parser.title).split()) or None
    author = meta.get("author") or meta.get("article:author")
    date = meta.get("article:published_time") or meta.get("date") or meta.get("time")
    if date:
        date = parse_date(date) or date[:10]  # "December 11, 2023" must not become "December 1"
    found = {"title": title, "author": author, "date": date or None}
    return text, {**found, "source": meta.get("og:site_name"), "url": meta.get("og:url")}

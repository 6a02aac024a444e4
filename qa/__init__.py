"""articleqa: ask questions of a collection of articles and get passages with exact, checkable citations."""

__version__ = "0.1.0"

"""The service: the engine (open, build, ask, stream, documents), its JSON shapes, and evaluation through it.

The one door the edges use. May import every library part (``qa.answers``, ``qa.evaluation``, ``qa.retrieval``,
``qa.models``, ``qa.store``, ``qa.base``); nothing below imports it.
"""

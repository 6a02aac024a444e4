"""The terminal edge: the ``qa`` and ``ask`` commands and their plain-text rendering.

An edge: parses flags, calls ``qa.service``, prints. May import ``qa.service`` and ``qa.base`` only.
"""

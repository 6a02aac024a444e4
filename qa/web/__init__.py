"""The HTTP edge: the Litestar app, ``/ask`` with SSE, ``/v1``, MCP, the chat widget, problems, keys, limits, metrics.

An edge: parses requests, calls ``qa.service``, formats responses. May import ``qa.service`` and ``qa.base`` only.
"""

"""The HTTP edge: the Litestar app, ``/ask`` with SSE, ``/v1``, problems, API keys, rate limits, metrics, logs, traces.

An edge: parses requests, calls ``qa.service``, formats responses. May import ``qa.service`` and ``qa.base`` only.
"""

"""The HTTP edge: the Litestar app, ``/ask`` with SSE, the OpenAI-compatible ``/v1``, errors as problems.

An edge: parses requests, calls ``qa.service``, formats responses. May import ``qa.service`` and ``qa.base`` only.
"""

"""Retrieval: hybrid dense + keyword search over the index, fused, and the optional cross-encoder reranker.

May import ``qa.store`` and ``qa.base``.
"""

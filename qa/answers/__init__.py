"""Answers: question analysis, conversations, extractive answers and their short answer spans, disagreements,
grounded prompts, generation and citation checks.

May import ``qa.models``, ``qa.retrieval``, ``qa.store`` and ``qa.base``.
"""

"""Answers: question analysis, conversations, extractive answers, disagreements, prompts, generation, citation checks.

May import ``qa.models``, ``qa.retrieval``, ``qa.store`` and ``qa.base``.
"""

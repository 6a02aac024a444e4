"""Evaluation: question sets with gold evidence, BEIR datasets, ranking metrics as trec_eval computes them.

May import ``qa.retrieval``, ``qa.store`` and ``qa.base`` (never ``qa.answers``: answers are scored through the
service).
"""

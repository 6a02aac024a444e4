"""Evaluation: question and follow-up sets with gold evidence, BEIR datasets, ranking metrics as trec_eval has them.

May import ``qa.retrieval``, ``qa.store`` and ``qa.base`` (never ``qa.answers``: answers are scored through the
service).
"""

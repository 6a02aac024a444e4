"""Evaluation: question and follow-up sets with gold evidence, BEIR datasets, ranking metrics as trec_eval computes
them, answer overlap (exact match, token F1) as the SQuAD script computes it.

May import ``qa.retrieval``, ``qa.store`` and ``qa.base`` (never ``qa.answers``: answers are scored through the
service).
"""

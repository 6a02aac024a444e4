"""Language models: the one-method interface, the registry with its entry-point group, and the built-in backends.

May import ``qa.base`` only.
"""

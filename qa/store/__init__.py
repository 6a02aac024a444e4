"""The store: reading and cleaning articles, chunking, embedding models, and the index files with their manifest.

May import ``qa.base`` only.
"""

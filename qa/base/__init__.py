"""The base every part stands on: settings, the error tree, value types, atomic files and text analysis.

Imports nothing from the rest of ``qa``; every other package may import it.
"""

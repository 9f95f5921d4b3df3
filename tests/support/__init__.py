"""Helpers shared by the tests and the benchmarks, not shipped in the package.

Import them as ``tests.support.<module>`` (the repository root on ``sys.path``: ``python -m
pytest`` puts it there; ``benchmarks/run.py`` adds it).
"""

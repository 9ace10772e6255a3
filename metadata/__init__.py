"""The data dictionary's folder, installed as the package `redhorn._dictionary`.

pyproject.toml maps this folder into redhorn at build time; this file makes it a regular package,
so that `importlib.resources` finds the same files in a checkout, an editable install and a wheel.
It holds data only.
"""

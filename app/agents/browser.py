"""The browser agent: reads and operates web apps in Chromium, every submission held for approval."""

from __future__ import annotations

from app.agents import AgentKind
from connectors import browser

AGENT = AgentKind(
    name="browser",
    description=(
        "Opens web pages in a browser and reads them (text, tables), fills in and submits forms, "
        "and downloads files into the workspace. Anything a page would send to a server (a form "
        "submission, a save) is shown to the person for approval first. Only sites the mission "
        "allows can be opened."
    ),
    prompt="browser.md",
    tools=tuple(browser.TOOLS),
    on_mission_end=browser.close_mission,
)

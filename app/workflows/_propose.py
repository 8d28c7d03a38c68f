"""The lead proposes a finished mission's parameters: what would change if it ran again.

One model call, with a forced tool (``propose_parameters``), on the mission's own model
endpoint. Only a proposal whose value occurs in the mission's instruction or plan is kept: a
parameter replaces text, so text that is nowhere could not become one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, get_args

from pydantic import ValidationError

from app.api.workflows import ParamType, ProposedParam, WorkflowParam
from app.errors import EngineError
from app.model import ModelError

if TYPE_CHECKING:
    from app.api.workflows import PlannedTask
    from app.model import ModelClient

TOOL = "propose_parameters"

SYSTEM = """\
You help a person who does not program turn a mission that Ensemble's agents carried out into \
a workflow they can run again, by hand or on a schedule. Read the mission's instruction and the \
plan its lead agent followed, and propose the parameters: the few values that would change the \
next time (a month, a date, a file, a customer, an amount, an email address), each exactly as \
it is written in the instruction or the plan. Propose nothing that stays the same every time \
(the task itself, folder names used every run). Usually one to three parameters; none if \
nothing would change. Answer with the propose_parameters tool."""

_TYPES = list(get_args(ParamType))


def tool_declaration() -> dict[str, Any]:
    """The ``propose_parameters`` tool, as the model sees it."""
    return {
        "name": TOOL,
        "description": "Propose the workflow's parameters: what changes from one run to the next.",
        "input_schema": {
            "type": "object",
            "properties": {
                "params": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {
                                "type": "string",
                                "description": "Lower case letters, digits and _, e.g. month, invoice_file.",
                            },
                            "type": {"type": "string", "enum": _TYPES},
                            "description": {
                                "type": "string",
                                "description": "One line for the person, e.g. 'The month to chase'.",
                            },
                            "value": {
                                "type": "string",
                                "description": "The value it had in this mission, exactly as written there.",
                            },
                        },
                        "required": ["name", "type", "description", "value"],
                    },
                }
            },
            "required": ["params"],
        },
    }


def prompt(instruction: str, plan: list[PlannedTask]) -> str:
    """The request: the mission's instruction and its plan's tasks."""
    lines = ["# The mission's instruction", "", instruction, "", "# The plan its lead followed", ""]
    if not plan:
        lines.append("(no tasks)")
    for task in plan:
        lines += [f"## Task {task.id} ({task.agent} agent)", task.instructions, ""]
    return "\n".join(lines)


async def propose(model: ModelClient, instruction: str, plan: list[PlannedTask]) -> list[ProposedParam]:
    """Asks the model for a mission's parameters.

    Args:
        model: The mission's model.
        instruction: Its instruction.
        plan: Its plan (see :func:`app.workflows._plans.plan_of`).

    Returns:
        The proposals whose value occurs in the instruction or the plan, each once, with the
        value as the parameter's default.

    Raises:
        EngineError: The model could not be used, or answered without the tool.
    """
    try:
        reply = await model.reply(
            system=SYSTEM,
            tools=[tool_declaration()],
            messages=[{"role": "user", "content": prompt(instruction, plan)}],
            tool_choice={"type": "tool", "name": TOOL},
        )
    except ModelError as exc:
        raise EngineError(f"The lead could not propose parameters: {exc}") from exc
    use = next((u for u in reply.tool_uses if u.get("name") == TOOL), None)
    if use is None or not isinstance(use.get("input"), dict):
        raise EngineError("The lead did not propose parameters; name them yourself.")
    proposed = use["input"].get("params")
    return kept(proposed if isinstance(proposed, list) else [], instruction, plan)


def kept(items: list[Any], instruction: str, plan: list[PlannedTask]) -> list[ProposedParam]:
    """The model's proposals that can be parameters: a value that occurs in the instruction
    or the plan, a usable name (made one if need be), each name and value once."""
    texts = [instruction, *(t.instructions for t in plan)]
    names: set[str] = set()
    values: set[str] = set()
    result: list[ProposedParam] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        value = str(item.get("value") or "")
        if not value.strip() or value in values or not any(value in text for text in texts):
            continue
        name = _name(str(item.get("name") or ""))
        if not name or name in names:
            continue
        kind = item.get("type") if item.get("type") in _TYPES else "text"
        try:
            param = WorkflowParam(
                name=name, type=kind, default=value, description=str(item.get("description") or "")
            )
            result.append(ProposedParam(param=param, value=value))
        except ValidationError:
            continue
        names.add(name)
        values.add(value)
    return result


def _name(raw: str) -> str:
    """A parameter name from what the model wrote: ``Invoice File`` → ``invoice_file``."""
    name = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
    name = re.sub(r"^[0-9_]+", "", name)
    return name[:40]

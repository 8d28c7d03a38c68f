"""Vouched destinations: an action reaches only where the person sent it.

Before a proposed action is decided, the gate lists where its data would go (its tool's
:attr:`~connectors.base.Tool.destinations`, or what a connector reports for an effect found
while a call runs: a page navigation, a form post) and asks, for each, where it came from.
A destination is *vouched for* only if the person named it:

- the mission's text, the person's chat messages and answers;
- the person's allow rules (an address or host written in a pattern: ``*@example.com``
  vouches for example.com's addresses, a bare ``to=*`` for nothing);
- the person's settings: the browser's allowed sites, the email account's own address,
  the address book;
- the person's memory (:mod:`app.memory`): the items that apply to the mission, each one
  the person wrote or approved;
- destinations the person approved by hand earlier in this mission (a site "allowed for
  this mission"), kept in the journal;
- the connector's own evidence that the person already deals with it, such as a
  correspondent in the account's Sent folder (:attr:`~connectors.base.Tool.known`).

Nothing else vouches: no tool result (a page, a URL, an email's headers or body, a workbook
cell, a file name, an error message, a sub-agent's summary). This is an allowlist built from
the person's own words, not a search for bad content, so a new channel or a new spelling of
an address cannot slip past it. An action with a destination nobody vouched for goes to the
person, whatever the rules and the approve mode say, and its card says which destination is
new and where it was seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app import memory
from connectors.base import (
    Destination,
    addresses_in,
    host_matches,
    link_hosts,
    normalise_address,
    normalise_host,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from app.journal import Journal, VouchSources

_WILDCARDS = frozenset("*?[]")


@dataclass
class Vouchers:
    """What the person vouched for in one mission, each with where they said so.

    Attributes:
        addresses: Email address → source, e.g. ``{"bob@example.com": "the mission"}``.
        address_domains: Domain whose every address is vouched for → source (from an
            address-book entry ``@example.com`` or a rule pattern ``*@example.com``).
        hosts: Host → source; a host also vouches for its subdomains.
    """

    addresses: dict[str, str] = field(default_factory=dict)
    address_domains: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)

    def add_text(self, text: str, source: str) -> None:
        """Vouches for every address and link host written in a text of the person's."""
        for address in addresses_in(text):
            self.addresses.setdefault(address, source)
        for host in link_hosts(text):
            self.hosts.setdefault(host, source)

    def add_entry(self, entry: str, source: str) -> None:
        """Vouches for one entry the person wrote: an address, ``@domain``, or a host or URL."""
        entry = entry.strip()
        if not entry:
            return
        if "@" in entry:
            local, _, domain = entry.rpartition("@")
            domain = domain.strip().lower().rstrip(".")
            if not domain or _WILDCARDS & set(domain):
                return
            if local.strip() in ("", "*"):
                self.address_domains.setdefault(domain, source)
                return
            if _WILDCARDS & set(local):
                return
            address = normalise_address(entry)
            if address:
                self.addresses.setdefault(address, source)
            return
        cleaned = entry.strip("*")
        if cleaned.startswith("."):
            cleaned = cleaned[1:]
        host = normalise_host(cleaned)
        if host and not (_WILDCARDS & set(host)) and ("." in host or host == "localhost"):
            self.hosts.setdefault(str(host), source)

    def source_of(self, destination: Destination) -> str | None:
        """Where the person vouched for a destination, or None if they did not."""
        if destination.kind == "address":
            found = self.addresses.get(destination.value)
            if found:
                return found
            domain = destination.value.rpartition("@")[2]
            for vouched, source in self.address_domains.items():
                if host_matches(domain, vouched):
                    return source
            return None
        for vouched, source in self.hosts.items():
            if host_matches(destination.value, vouched):
                return source
        return None


def collect(journal: Journal, mission_id: str, address_book: Sequence[str] = ()) -> Vouchers:
    """Gathers what the person vouched for in a mission, from the journal and the settings.

    Args:
        journal: The journal: the mission's text and options, its chat, the rules, and the
            destinations approved by hand.
        mission_id: The mission.
        address_book: The settings' address book (addresses, ``@domain`` or hosts).

    Returns:
        The mission's :class:`Vouchers`. Reads only the person's own sources, never a tool
        result, so its cost does not grow with what the agents read.
    """
    return from_sources(journal.vouch_sources(mission_id), address_book)


def from_sources(sources: VouchSources, address_book: Sequence[str] = ()) -> Vouchers:
    """What the person vouched for, from their own words gathered in one place (pure code: the
    Temporal workflow, which has no journal, gathers the same sources in its state).

    Args:
        sources: The mission's text and options, the person's messages, the rules, the
            destinations approved by hand and the memory (see :class:`app.journal.VouchSources`).
        address_book: The settings' address book (addresses, ``@domain`` or hosts).

    Returns:
        The mission's :class:`Vouchers`.
    """
    vouchers = Vouchers()
    if sources.text is not None:
        vouchers.add_text(sources.text, "the mission")
        options: dict[str, Any] = json.loads(sources.options_json or "{}")
        browser = options.get("browser")
        if isinstance(browser, dict):
            for domain in browser.get("allowed_domains") or []:
                if isinstance(domain, str):
                    vouchers.add_entry(domain, "your allowed sites")
        mail = options.get("email")
        account = mail.get("account") if isinstance(mail, dict) else None
        if isinstance(account, dict) and isinstance(account.get("address"), str):
            vouchers.add_entry(account["address"], "your own email address")
    for kind, text in sources.messages:
        vouchers.add_text(text, "your message" if kind != "answer" else "your answer")
    for rule_kind, conditions, description in sources.rules:
        if rule_kind != "approve_all":
            continue  # a deny names a place to avoid, not one to reach
        for pattern in json.loads(conditions).values():
            if isinstance(pattern, str):
                vouchers.add_entry(pattern, f"your rule “{description}”")
    for entry in address_book:
        vouchers.add_entry(entry, "your address book")
    for kind, value, source in sources.vouched:
        target = vouchers.addresses if kind == "address" else vouchers.hosts
        target.setdefault(value, source)
    folders = memory.scope_folders(sources.workspaces) if sources.memories else frozenset()
    for text, workspace in sources.memories:
        if workspace is None or workspace in folders:
            vouchers.add_text(text, "your memory")
    return vouchers


def unvouched(vouchers: Vouchers, destinations: Iterable[Destination]) -> list[Destination]:
    """The destinations nobody vouched for, each once, in order."""
    seen: set[tuple[str, str]] = set()
    found = []
    for destination in destinations:
        key = (destination.kind, destination.value)
        if key in seen:
            continue
        seen.add(key)
        if vouchers.source_of(destination) is None:
            found.append(destination)
    return found


def seen_in(journal: Journal, mission_id: str, destinations: Sequence[Destination]) -> dict[str, str]:
    """Where in the mission each destination's value was seen, in words for the card.

    Looks through the mission's tool results (what pages, emails, workbooks and sub-agents
    returned). Returns ``{value: "what “Read an email” returned"}`` (the tool's title); a value
    found nowhere is ``"nowhere in what the agents read: the agent wrote it"``.
    """
    from connectors.registry import action_title

    return places_seen(journal.tool_results(mission_id), destinations, action_title)


def places_seen(
    results: Iterable[tuple[str, str, bool, str]],
    destinations: Sequence[Destination],
    title_of: Callable[[str], str],
) -> dict[str, str]:
    """:func:`seen_in` over tool results held anywhere (pure code, for the Temporal workflow).

    Args:
        results: The mission's tool results, ``(tool, agent, is_error, result text)``.
        destinations: The destinations to look for.
        title_of: A tool's title for a person, by its name.

    Returns:
        ``{value: where it was seen, in words}``, as :func:`seen_in`.
    """
    wanted = {d.value: d for d in destinations}
    places: dict[str, list[str]] = {value: [] for value in wanted}
    for tool, agent, is_error, result in results:
        text = result.lower()
        title = title_of(tool)
        what = "a sub-agent's report" if agent == "lead" else f"what “{title}” returned"
        if is_error:
            what = f"an error message of “{title}”"
        for value, found in places.items():
            if len(found) < 3 and what not in found and _mentions(text, wanted[value]):
                found.append(what)
    return {
        value: ", ".join(found) if found else "nowhere in what the agents read: the agent wrote it"
        for value, found in places.items()
    }


def _mentions(text: str, destination: Destination) -> bool:
    if destination.value in text:
        return True
    if destination.kind == "address":
        local, _, domain = destination.value.partition("@")
        return local in text and domain.split(".")[0] in text
    return False


def notice(new: Sequence[Destination], seen: dict[str, str]) -> str:
    """The card's sentence for destinations nobody vouched for."""
    parts = [f"{d.label} ({_where(seen.get(d.value, 'this mission'))})" for d in new]
    listed = "; ".join(parts)
    subject = "This is a new destination" if len(new) == 1 else "These are new destinations"
    return (
        f"{subject}: {listed}. You did not name it in the mission, your messages, rules, settings "
        "or address book, and you have not written to it before, so Ensemble asks you, whatever "
        "the rules say."
    )


def _where(seen: str) -> str:
    """Where a destination was seen, as the card says it: "seen in what “Read an email” returned",
    or for one found nowhere "not in anything the agents read: the agent wrote it"."""
    if seen.startswith("nowhere"):
        return "not in anything the agents read: the agent wrote it"
    return f"seen in {seen}"


def as_json(new: Sequence[Destination], seen: dict[str, str]) -> list[dict[str, str]]:
    """The new destinations as event data: kind, value, role and where each was seen."""
    return [{"kind": d.kind, "value": d.value, "role": d.role, "seen_in": seen.get(d.value, "")} for d in new]

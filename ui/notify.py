"""Desktop notifications through the desktop's own notification service.

Linux desktops (GNOME, KDE, XFCE, dunst…) serve ``org.freedesktop.Notifications`` on the
session bus: a notification sent there shows the way the person's other notifications do,
even without a system tray. Each one names Ensemble, replaces the previous one about the same
mission, and offers "Show", which opens the window on that mission. Without the service (no
session bus, another system) :meth:`DesktopNotifier.send` says so, and the tray's balloon is
used instead.

The call goes out in a short worker thread (the service may be slow to answer; the GUI thread
never waits for it) with jeepney, which spells the method's types exactly (Qt's D-Bus binding
for Python cannot send the unsigned ``replaces_id`` the specification asks for); the answers,
"Show" clicked and the notification closed, come back through Qt's D-Bus connection.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

from PySide6.QtCore import SLOT, QObject, Signal, Slot

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
SIGNATURE = "susssasa{sv}i"
"""Notify(app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout)."""
APP_NAME = "Ensemble"
ICON = "ensemble"  # the icon the menu entry installs (packaging/linux)
TIMEOUT_MS = 10_000


def notify_arguments(
    title: str, text: str, *, replaces_id: int = 0, icon: str = ICON, timeout_ms: int = TIMEOUT_MS
) -> tuple[Any, ...]:
    """The arguments of one ``Notify`` call, in the order and types of :data:`SIGNATURE`.

    Args:
        title: The summary line ("Mission done: …").
        text: The body; plain text (the service reads a little markup, so it is escaped).
        replaces_id: The notification this one replaces (0: a new one).
        icon: An icon name from the desktop's theme, or a file's URI.
        timeout_ms: How long it shows; -1 lets the service decide.

    Returns:
        ``(app_name, replaces_id, icon, summary, body, actions, hints, timeout)``; the hints'
        values are jeepney's ``(signature, value)`` variants.
    """
    return (
        APP_NAME,
        max(0, int(replaces_id)) & 0xFFFFFFFF,
        icon,
        title,
        html.escape(text, quote=False),
        ["default", "Show"],
        {"desktop-entry": ("s", "ensemble"), "urgency": ("y", 1)},
        int(timeout_ms),
    )


class DesktopNotifier(QObject):
    """Sends notifications to the desktop's notification service, when the session has one.

    Signals:
        activated(object): The person clicked a notification (or its "Show"): the mission it
            is about, or None.
        failed(str, str, object): The service refused or did not answer a notification
            (title, text, mission id): the caller shows it another way.
    """

    activated = Signal(object)
    failed = Signal(str, str, object)
    _sent = Signal(int, object)  # from the worker thread: the service's id, the mission

    def __init__(self, parent: QObject | None = None, *, check: bool = True) -> None:
        super().__init__(parent)
        self._missions: dict[int, str | None] = {}  # notification id → its mission
        self._latest: dict[str | None, int] = {}  # mission → its latest notification id
        self._sent.connect(self.on_sent)
        self._available = check and self._find_service()
        if self._available:
            self._listen()

    @property
    def available(self) -> bool:
        """Whether the session bus has a notification service (checked once, at the start)."""
        return self._available

    @staticmethod
    def _find_service() -> bool:
        try:
            import jeepney  # type: ignore[import-untyped]  # noqa: F401  # the sender (the keyring needs it on Linux)
            from PySide6.QtDBus import QDBusConnection
        except ImportError:
            return False
        bus = QDBusConnection.sessionBus()
        if not bus.isConnected():
            return False
        interface = bus.interface()
        if interface is None:
            return False
        registered = interface.isServiceRegistered(SERVICE)
        if registered.isValid() and registered.value():
            return True
        activatable = interface.activatableServiceNames()
        return bool(activatable.isValid() and SERVICE in (activatable.value() or []))

    def _listen(self) -> None:
        from PySide6.QtDBus import QDBusConnection

        bus = QDBusConnection.sessionBus()
        # The slot by its C++ signature (PySide takes SLOT()'s text, whatever its stubs say).
        for signal, slot in (
            ("ActionInvoked", "on_action_invoked(uint,QString)"),
            ("NotificationClosed", "on_closed(uint,uint)"),
        ):
            bus.connect(SERVICE, PATH, INTERFACE, signal, self, SLOT(slot))  # type: ignore[call-overload]

    def send(self, title: str, text: str, *, mission_id: str | None = None) -> bool:
        """Sends a notification (replacing the last one about the same mission).

        Returns:
            Whether it went to the desktop's service; False without one (show it otherwise).
            If the service then fails to take it, :attr:`failed` says so.
        """
        if not self._available:
            return False
        arguments = notify_arguments(title, text, replaces_id=self._latest.get(mission_id, 0))
        worker = threading.Thread(
            target=self._deliver,
            args=(arguments, title, text, mission_id),
            name="desktop notification",
            daemon=True,
        )
        worker.start()
        return True

    def _deliver(self, arguments: tuple[Any, ...], title: str, text: str, mission_id: str | None) -> None:
        """In a worker thread: one ``Notify`` call; its id (or the failure) goes back by a signal."""
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

            address = DBusAddress(PATH, bus_name=SERVICE, interface=INTERFACE)
            with open_dbus_connection(bus="SESSION") as connection:
                reply = connection.send_and_get_reply(
                    new_method_call(address, "Notify", SIGNATURE, arguments), timeout=5
                )
        except Exception:  # a notification must never take anything down; shown otherwise
            log.info("The desktop's notification service did not answer", exc_info=True)
            self.failed.emit(title, text, mission_id)
            return
        if reply.header.message_type.name != "method_return" or not reply.body:
            log.info("The desktop's notification service refused a notification: %s", reply.body)
            self.failed.emit(title, text, mission_id)
            return
        self._sent.emit(int(reply.body[0]), mission_id)

    def on_sent(self, notification_id: int, mission_id: str | None) -> None:
        self._missions[notification_id] = mission_id
        self._latest[mission_id] = notification_id

    @Slot("uint", str)
    def on_action_invoked(self, notification_id: int, action: str) -> None:
        """The person clicked one of our notifications (any action shows its mission)."""
        if notification_id in self._missions:
            self.activated.emit(self._missions[notification_id])

    @Slot("uint", "uint")
    def on_closed(self, notification_id: int, _reason: int) -> None:
        mission_id = self._missions.pop(notification_id, None)
        if self._latest.get(mission_id) == notification_id:
            del self._latest[mission_id]

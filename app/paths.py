"""Where Ensemble keeps its files: the journal, backups and settings.

Everything lives under the platform's data and config folders (from platformdirs), or, when
the ``ENSEMBLE_HOME`` environment variable is set, under that one folder, which tests and
portable installs use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "Ensemble"


@dataclass(frozen=True)
class Paths:
    """The folders and files of one Ensemble installation.

    Attributes:
        data_dir: Holds the journal and the backups.
        config_dir: Holds ``settings.json``.
    """

    data_dir: Path
    config_dir: Path

    @classmethod
    def default(cls) -> Paths:
        """The paths for this user: ``ENSEMBLE_HOME`` if set, else the platform's folders."""
        home = os.environ.get("ENSEMBLE_HOME")
        if home:
            root = Path(home).expanduser().resolve()
            return cls(data_dir=root, config_dir=root)
        return cls(
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        )

    @property
    def journal(self) -> Path:
        """The SQLite journal of missions, tool calls, approvals and audit events."""
        return self.data_dir / "journal.sqlite3"

    @property
    def backups(self) -> Path:
        """Copies of files as they were before a local write, for undo."""
        return self.data_dir / "backups"

    @property
    def settings(self) -> Path:
        """The person's settings, as JSON."""
        return self.config_dir / "settings.json"

    def ensure(self) -> None:
        """Creates the folders if they do not exist yet."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.backups.mkdir(parents=True, exist_ok=True)

"""A keyring backend in a JSON file, for tests whose ``ensemble`` runs as a child process.

The in-memory backend of conftest.py cannot be seen from another process, and a headless
machine has no Secret Service. Select it with ``PYTHON_KEYRING_BACKEND=_keyring_file.FileKeyring``
(``tests/`` on ``PYTHONPATH``) and ``ENSEMBLE_TEST_KEYRING=/path/file.json``. Tests only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend


class FileKeyring(keyring.backend.KeyringBackend):
    """Secrets in the JSON file named by ``ENSEMBLE_TEST_KEYRING``."""

    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["ENSEMBLE_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        return json.loads(self._path.read_text()) if self._path.exists() else {}  # type: ignore[no-any-return]

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}/{username}", None)
        self._path.write_text(json.dumps(data))

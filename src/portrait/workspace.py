"""A workspace: a folder holding `portrait.toml`, the DuckDB warehouse, the store and the key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from portrait.config import CONFIG_NAME, PortraitConfig, default_config_text, load_config
from portrait.errors import PermissionDenied, WorkspaceError
from portrait.privacy import KEY_ENV, Vault, decode_key, encode_key, new_key
from portrait.store import DEFAULT_ACTOR, Store

if TYPE_CHECKING:
    pass

WAREHOUSE_NAME = "warehouse.duckdb"
STORE_NAME = "store.sqlite"
KEY_NAME = "portrait.key"
STORE_URL_ENV = "PORTRAIT_STORE_URL"


@dataclass
class Workspace:
    """An opened workspace; the entry point of the Python API."""

    path: Path
    config: PortraitConfig
    actor: str = DEFAULT_ACTOR
    _vault: Vault | None = field(default=None, repr=False)

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file holding the data."""
        return self.path / WAREHOUSE_NAME

    @cached_property
    def store(self) -> Store:
        """The application store (SQLite in the workspace unless PORTRAIT_STORE_URL names another)."""
        url = os.environ.get(STORE_URL_ENV) or f"sqlite:///{self.path / STORE_NAME}"
        store = Store(url)
        store.create()  # new tables of a newer Portrait appear on first use
        return store

    @property
    def vault(self) -> Vault:
        """Encryption and keyed hashing with the workspace key."""
        if self._vault is None:
            self._vault = Vault(_load_key(self.path))
        return self._vault

    @contextmanager
    def warehouse(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse; a damaged or locked file raises WorkspaceError."""
        try:
            con = duckdb.connect(
                str(self.warehouse_path),
                read_only=read_only,
                config={"memory_limit": self.config.engine.memory_limit, "threads": self.config.engine.threads},
            )
        except duckdb.IOException as exc:
            text = str(exc).split("\n")[0]
            if "lock" in text.lower():
                raise WorkspaceError(
                    f"{self.warehouse_path}: in use by another Portrait process; wait for it to finish"
                ) from None
            raise WorkspaceError(
                f"{self.warehouse_path}: cannot open the warehouse ({text}); restore it from a backup"
            ) from None
        except duckdb.Error as exc:
            raise WorkspaceError(
                f"{self.warehouse_path}: cannot open the warehouse ({str(exc).splitlines()[0]}); restore it from a backup"
            ) from None
        try:
            yield con
        finally:
            con.close()

    def require(self, permission: str) -> None:
        """Raise PermissionDenied unless the acting user holds ``permission``."""
        if permission not in self.store.permissions(self.actor):
            role = self.store.role_of(self.actor)
            raise PermissionDenied(f"user '{self.actor}' (role {role}) may not {permission.replace('_', ' ')}")

    def audit(self, action: str, target: str = "", outcome: str = "ok", **detail: object) -> None:
        """Write an audit entry as the acting user."""
        self.store.audit(self.actor, action, target, outcome, **detail)


def _load_key(path: Path) -> bytes:
    env = os.environ.get(KEY_ENV)
    if env:
        return decode_key(env, KEY_ENV)
    key_file = path / KEY_NAME
    if not key_file.exists():
        raise WorkspaceError(
            f"{path}: no key file {KEY_NAME} and {KEY_ENV} is not set; set {KEY_ENV} to the workspace key"
        )
    return decode_key(key_file.read_text(encoding="ascii"), str(key_file))


def init_workspace(path: Path) -> Workspace:
    """Create a workspace at ``path`` (config, warehouse tables, store, key); existing files are kept."""
    from portrait.warehouse import create_tables

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} is a file; choose a folder for the workspace")
    path.mkdir(parents=True, exist_ok=True)
    config_file = path / CONFIG_NAME
    if not config_file.exists():
        config_file.write_text(default_config_text(), encoding="utf-8")
    key_file = path / KEY_NAME
    if not key_file.exists() and not os.environ.get(KEY_ENV):
        key_file.write_text(encode_key(new_key()) + "\n", encoding="ascii")
        key_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
    ws = open_workspace(path)
    ws.store.create()
    with ws.warehouse() as con:
        create_tables(con)
    ws.audit("init", str(path))
    return ws


def open_workspace(path: Path | str | None = None, actor: str | None = None) -> Workspace:
    """Open an existing workspace; a folder without `portrait.toml` raises WorkspaceError."""
    path = Path(path or ".").resolve()
    config_file = path / CONFIG_NAME
    if not config_file.exists():
        raise WorkspaceError(f"no workspace at {path}: run `portrait init {path}` first")
    ws = Workspace(
        path=path, config=load_config(config_file), actor=actor or os.environ.get("PORTRAIT_USER") or DEFAULT_ACTOR
    )
    return ws

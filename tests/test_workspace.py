"""Workspaces and configuration: what init creates, and config errors that name file, line and field."""

from __future__ import annotations

import stat

import pytest

from portrait.config import PortraitConfig, load_config
from portrait.errors import ConfigError, InputError, NotFound, WorkspaceError
from portrait.store import ROLES
from portrait.workspace import init_workspace, open_workspace


def test_init_creates_config_warehouse_store_and_private_key(tmp_path):
    ws = init_workspace(tmp_path / "shop")
    names = sorted(p.name for p in ws.path.iterdir())
    assert names == ["portrait.key", "portrait.toml", "store.sqlite", "warehouse.duckdb"]
    assert stat.S_IMODE((ws.path / "portrait.key").stat().st_mode) == 0o600
    assert load_config(ws.path / "portrait.toml") == PortraitConfig()
    assert ws.store.audit_entries()[0]["action"] == "init"
    again = init_workspace(tmp_path / "shop")  # idempotent: keeps the key and the data
    assert (again.path / "portrait.key").read_text() == (ws.path / "portrait.key").read_text()


def test_opening_a_folder_that_is_no_workspace_says_how_to_make_one(tmp_path):
    with pytest.raises(WorkspaceError, match=r"no workspace at .*nothing: run `portrait init"):
        open_workspace(tmp_path / "nothing")


def test_unknown_setting_names_file_line_and_suggests(tmp_path, ws):
    (ws.path / "portrait.toml").write_text("[cleaning]\nage_min = 18\nmising_fill_below = 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        open_workspace(ws.path)
    assert str(err.value).endswith(
        "portrait.toml:3: unknown setting 'cleaning.mising_fill_below'; did you mean 'missing_fill_below'?"
    )


def test_wrong_value_type_names_the_setting(ws):
    (ws.path / "portrait.toml").write_text("[identity]\nmax_group_size = 'many'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"portrait.toml:2: setting 'identity.max_group_size'"):
        open_workspace(ws.path)


def test_broken_toml_is_a_config_error(ws):
    (ws.path / "portrait.toml").write_text("[cleaning\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        open_workspace(ws.path)


def test_a_damaged_warehouse_is_reported_with_the_fix(ws):
    ws.warehouse_path.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(WorkspaceError, match="cannot open the warehouse .*restore it from a backup"):
        with ws.warehouse():
            pass


def test_users_and_roles(ws):
    ws.store.add_user("wang", "marketing")
    assert ws.store.permissions("wang") == ROLES["marketing"]
    with pytest.raises(InputError, match="exists already"):
        ws.store.add_user("wang", "analyst")
    with pytest.raises(InputError, match="unknown role 'boss'"):
        ws.store.add_user("li", "boss")
    ws.store.set_role("wang", "admin")
    assert "reveal_personal" in ws.store.permissions("wang")
    with pytest.raises(NotFound, match="no user 'nobody'"):
        ws.store.permissions("nobody")
    assert ws.store.role_of("local") == "analyst"

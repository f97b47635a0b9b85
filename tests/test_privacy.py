"""Privacy by default: masking rules, encryption at rest, no clear value in any workspace file or output."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portrait import api
from portrait.errors import PermissionDenied, WorkspaceError
from portrait.ingest.job import import_files
from portrait.privacy import (
    Vault,
    decode_key,
    encode_key,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
    new_key,
)
from portrait.workspace import init_workspace, open_workspace

PORTRAIT = str(Path(sys.executable).with_name("portrait"))

CLEAR = {
    "name": "欧阳娜娜",
    "phone": "13912345678",
    "email": "nana.ouyang@example.cn",
    "id_number": "110101199003078515",
    "address": "北京市朝阳区建国路 88 号 9 栋",
}


@pytest.mark.parametrize(
    ("fn", "clear", "masked"),
    [
        (mask_name, "张三", "张*"),
        (mask_name, "张三丰", "张**"),
        (mask_name, "欧阳娜娜", "欧阳**"),
        (mask_name, "Alice", "A****"),
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "138-1234-5678", "138****5678"),
        (mask_phone, "+86 138 1234 5678", "138****5678"),
        (mask_id_number, "110101199003078515", "110101********8515"),
        (mask_email, "alice@example.com", "a***@example.com"),
    ],
)
def test_masking_rules(fn, clear, masked):
    assert fn(clear) == masked


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_masked_phone_keeps_only_first_three_and_last_four(phone):
    masked = mask_phone(phone)
    assert masked == phone[:3] + "****" + phone[-4:]


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=4))
def test_masked_chinese_name_shows_at_most_the_surname(name):
    masked = mask_name(name)
    assert len(masked) == len(name)
    assert masked.count("*") >= len(name) - 2 and masked[0] == name[0]


@given(st.text(min_size=0, max_size=60))
def test_encryption_round_trips_and_never_repeats_a_token(value):
    vault = Vault(new_key())
    a, b = vault.encrypt(value), vault.encrypt(value)
    assert vault.decrypt(a) == value and vault.decrypt(b) == value
    assert a != b
    assert value not in a[3:] or len(value) < 4
    # URL-safe base64 of the 12-byte nonce and the ciphertext with its 16-byte tag
    assert re.fullmatch(r"v1:[A-Za-z0-9_-]+=*", a)
    assert len(base64.urlsafe_b64decode(a[3:])) == 12 + len(value.encode()) + 16


@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=30))
def test_a_column_encrypts_like_its_values_one_by_one(values):
    """encrypt_many draws its nonces in one call: every token still opens to its value, None stays None,
    and no two tokens share a nonce."""
    vault = Vault(new_key())
    tokens = vault.encrypt_many(values)
    assert [vault.decrypt(t) for t in tokens] == values
    assert [t is None for t in tokens] == [v is None for v in values]
    nonces = [base64.urlsafe_b64decode(t[3:])[:12] for t in tokens if t is not None]
    assert len(set(nonces)) == len(nonces)


def test_lookup_hash_equal_for_equal_people_and_keyed():
    vault = Vault(new_key())
    assert vault.lookup_hash("phone", "138-1234-5678") == vault.lookup_hash("phone", "+86 13812345678")
    assert vault.lookup_hash("email", " A@B.cn") == vault.lookup_hash("email", "a@b.cn")
    assert vault.lookup_hash("phone", "13812345678") != Vault(new_key()).lookup_hash("phone", "13812345678")


def test_a_wrong_key_is_a_clear_error():
    token = Vault(new_key()).encrypt("x")
    with pytest.raises(WorkspaceError, match="PORTRAIT_KEY"):
        Vault(new_key()).decrypt(token)
    with pytest.raises(WorkspaceError, match="not a valid Portrait key"):
        decode_key("abc", "PORTRAIT_KEY")
    assert decode_key(encode_key(b"k" * 32), "x") == b"k" * 32


def _import_personal(ws, write_csv):
    rows = [
        ["客户ID", "客户名称", "手机号", "邮箱", "身份证号", "地址", "年龄"],
        ["C1", CLEAR["name"], CLEAR["phone"], CLEAR["email"], CLEAR["id_number"], CLEAR["address"], "34"],
        ["C2", "张三", "13700000000", "zs@example.cn", "", "", "999"],  # quarantined: age out of range
    ]
    return import_files(ws, "customers", [write_csv("people.csv", rows)])


def _all_workspace_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


@pytest.mark.parametrize("beside_the_load", [False, True])
def test_no_clear_personal_value_in_any_workspace_file(ws, write_csv, monkeypatch, beside_the_load):
    # quarantined rows are sealed in a statement before the load, or (many of them) on a thread beside it
    from portrait.ingest import job

    monkeypatch.setattr(job, "SEAL_BESIDE_THE_LOAD", 1 if beside_the_load else 10**9)
    report = _import_personal(ws, write_csv)
    assert report.tables["customers"]["quarantined"] == 1
    con = duckdb.connect(str(ws.warehouse_path))
    con.execute("CHECKPOINT")
    (token,) = con.execute("SELECT raw FROM quarantine").fetchone()
    con.close()
    assert json.loads(ws.vault.decrypt(token))["phone"] == "13700000000"  # sealed, and opens to the row
    blob = _all_workspace_bytes(ws.path)
    assert b"C1" in blob  # the scan does see the warehouse's text
    for clear in [*CLEAR.values(), "13700000000", "zs@example.cn", "张三"]:
        for encoding in ("utf-8", "utf-16-le"):
            assert clear.encode(encoding) not in blob, clear


def test_outputs_are_masked_and_the_log_holds_no_clear_value(ws, write_csv):
    _import_personal(ws, write_csv)
    record = api.customer_record(ws, "C1")
    assert (record["user_name"], record["phone"], record["id_number"]) == (
        "欧阳**",
        "139****5678",
        "110101********8515",
    )
    assert record["email"] == "n***@example.cn" and record["address"] == "北京市朝阳区****"
    text = json.dumps(record, ensure_ascii=False) + json.dumps(ws.store.audit_entries(500), ensure_ascii=False)
    text += json.dumps(api.quality_report(ws), ensure_ascii=False)
    for clear in CLEAR.values():
        assert clear not in text
    cli = subprocess.run(
        [PORTRAIT, "customer", "C1", "--workspace", str(ws.path), "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(cli.stdout)["phone"] == "139****5678"
    for clear in CLEAR.values():
        assert clear not in cli.stdout + cli.stderr


def test_revealing_needs_the_permission_and_is_logged(ws, write_csv):
    _import_personal(ws, write_csv)
    with pytest.raises(PermissionDenied, match="may not reveal personal"):
        api.customer_record(ws, "C1", reveal=True)
    ws.store.add_user("lead", "service_lead")
    lead = open_workspace(ws.path, actor="lead")
    record = api.customer_record(lead, "C1", reveal=True)
    assert record["phone"] == CLEAR["phone"] and record["user_name"] == CLEAR["name"] and record["masked"] is False
    entry = ws.store.audit_entries(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("lead", "reveal_personal", "C1")
    assert CLEAR["phone"] not in json.dumps(entry, ensure_ascii=False)
    ws.store.add_user("mkt", "marketing")
    with pytest.raises(PermissionDenied):
        api.customer_record(open_workspace(ws.path, actor="mkt"), "C1", reveal=True)


def test_key_from_the_environment(tmp_path, monkeypatch, write_csv):
    monkeypatch.setenv("PORTRAIT_KEY", encode_key(new_key()))
    ws = init_workspace(tmp_path / "envws")
    assert not (ws.path / "portrait.key").exists()
    _import_personal(ws, write_csv)
    assert api.customer_record(ws, "C1")["phone"] == "139****5678"
    monkeypatch.setenv("PORTRAIT_KEY", encode_key(new_key()))
    with pytest.raises(WorkspaceError, match="cannot decrypt"):
        api.customer_record(open_workspace(ws.path), "C1")
    monkeypatch.delenv("PORTRAIT_KEY")
    with pytest.raises(WorkspaceError, match="no key file"):
        api.customer_record(open_workspace(ws.path), "C1")

"""Tags: the default library on the May shop by hand, history across refreshes, manual and file tags,
and tag files that fail with file:line:column."""

from __future__ import annotations

from datetime import date

import pytest

from portrait import snapshots
from portrait.errors import ConfigError
from portrait.refresh import RefreshError, refresh
from portrait.tags import (
    add_manual_tag,
    default_library,
    history_folder,
    load_tag_file,
    tag_history,
    tag_library,
    tag_stats,
)
from tests.shops import load_may_shop


def _tags(ws, *names):
    cols = ", ".join(f'"{n}"' for n in names)
    with snapshots.reader(ws) as (con, _):
        return {r[0]: r[1:] for r in con.execute(f"SELECT user_id, {cols} FROM tag_values ORDER BY user_id").fetchall()}


@pytest.fixture
def may(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    return ws


def test_default_library_on_the_may_shop(may):
    refresh(may, date(2024, 9, 1))
    got = _tags(may, "购买频次", "流失风险", "客户价值", "活跃度", "年龄段", "城市等级", "品类偏好", "价格敏感度")
    assert got == {
        "A": ("中频", "高", "普通客户", "低活跃", "26-35岁", "一线", "手机", "一般"),
        "B": ("中频", "中", "普通客户", "低活跃", "18-25岁", "一线", "美妆", "敏感"),
        "C": ("低频", "中", "普通客户", "低活跃", "36-45岁", "新一线", "食品", "一般"),
        "D": ("近半年未购买", "未购买", "普通客户", "低活跃", "26-35岁", "新一线", None, None),
        "E": ("近半年未购买", "未购买", "普通客户", "低活跃", "46岁以上", "一线", None, None),
        "F": ("中频", "高", "普通客户", "低活跃", "18-25岁", "一线", "服饰", "一般"),
    }


def test_history_records_moves_between_refreshes(may):
    refresh(may, date(2024, 6, 1))
    assert _tags(may, "活跃度")["A"] == ("中活跃",)
    refresh(may, date(2024, 9, 1))
    changes = [c for c in tag_history(may, "A")["changes"] if c["tag"] == "活跃度"]
    assert changes == [
        {"as_of": "2024-06-01", "snapshot": 1, "tag": "活跃度", "from": None, "to": "中活跃"},
        {"as_of": "2024-09-01", "snapshot": 2, "tag": "活跃度", "from": "中活跃", "to": "低活跃"},
    ]
    stats = {t["tag"]: t for t in tag_stats(may)["tags"]}
    assert stats["活跃度"]["moved_since_last_refresh"] == 4  # A, B, C, F went from 中活跃 to 低活跃
    # the second snapshot stores only its own changes; the first one's are kept in the history folder
    with snapshots.reader(may) as (con, snap):
        assert con.execute("SELECT count(*) FROM tag_changes WHERE tag = '活跃度'").fetchall()[0][0] == 4
        assert (
            con.execute("SELECT count(*) FROM tag_changes WHERE old_value IS NOT DISTINCT FROM new_value").fetchall()[
                0
            ][0]
            == 0
        )
    kept = sorted(p.name for p in history_folder(may).glob("*.parquet"))
    assert kept == ["changes-000001.parquet", "changes-000002.parquet"]
    # a refresh that died between publishing and filing its changes: the next refresh files them first
    (history_folder(may) / "changes-000002.parquet").unlink()
    refresh(may, date(2024, 9, 1))
    assert [c for c in tag_history(may, "A")["changes"] if c["tag"] == "活跃度"] == changes
    assert len(list(history_folder(may).glob("*.parquet"))) == 3
    assert stats["活跃度"]["coverage"] == 1.0 and stats["活跃度"]["values"] == {"低活跃": 6}
    assert stats["品类偏好"]["coverage"] == pytest.approx(4 / 6)


def test_manual_and_file_tags(may, tmp_path):
    add_manual_tag(may, "C", "潜在需求", "家电", "asked about dishwashers on the phone")
    (may.path / "vip.csv").write_text("user_id\nA\nF\n", encoding="utf-8")
    (may.path / "tags.yaml").write_text(
        "tags:\n  - name: 活动名单\n    category: value_risk\n    kind: file\n    path: vip.csv\n    value: 双11邀约\n",
        encoding="utf-8",
    )
    refresh(may, date(2024, 9, 1))
    got = _tags(may, "潜在需求", "活动名单")
    assert got["C"] == ("家电", None) and got["A"] == (None, "双11邀约") and got["F"] == (None, "双11邀约")
    manual = tag_history(may, "C")["manual"]
    assert manual[0]["why"] == "asked about dishwashers on the phone" and manual[0]["by"] == "local"
    with pytest.raises(Exception, match="say why"):
        add_manual_tag(may, "C", "x", "y", " ")


def test_workspace_tags_replace_and_switch_off_library_tags(may):
    (may.path / "tags.yaml").write_text(
        "tags:\n"
        "  - name: 客户价值\n    category: value_risk\n    kind: rule\n    values:\n"
        '      - {value: 大客户, when: "monetary >= 500"}\n    else: 小客户\n'
        "  - name: 性别\n    category: basic\n    kind: attribute\n    field: gender\n    enabled: false\n",
        encoding="utf-8",
    )
    names = [t.name for t in tag_library(may)]
    assert "性别" not in names and "客户价值" in names
    refresh(may, date(2024, 9, 1))
    assert _tags(may, "客户价值")["A"] == ("大客户",) and _tags(may, "客户价值")["B"] == ("小客户",)


BAD_RULE = """tags:
  - name: 大客户
    category: value_risk
    kind: rule
    values:
      - {value: 是, when: "monetary_180d >= "}
"""


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            BAD_RULE,
            (6, BAD_RULE.splitlines()[5].index('"') + 1 + 1 + len("monetary_180d >= ")),
            "expected a value or field but found 'the end of the rule'",
        ),
        ("tags:\n  - name: x\n    category: basic\n    kind: magic\n", (4, 11), "tags.0.kind: Input should be"),
        (
            "tags:\n  - name: x\n    category: basic\n    kind: bands\n    field: age\n",
            (2, 5),
            "a bands tag needs edges, labels",
        ),
        (
            "tags:\n  - name: x\n    category: basic\n    kind: attribute\n    field: age\n    colour: red\n",
            (6, 13),
            "tags.0.colour: Extra inputs are not permitted",
        ),
        (
            "tags:\n  - {name: x, category: basic, kind: bands, field: age, edges: [1, 2], labels: [a, b]}\n",
            (2, 5),
            "2 edges need 3 labels, got 2",
        ),
        ("tags: [\n", (2, 1), "not valid YAML"),
    ],
)
def test_bad_tag_files_point_at_file_line_column(tmp_path, text, where, problem):
    path = tmp_path / "tags.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_tag_file(path)
    line, column = where
    assert str(err.value).startswith(f"{path}:{line}:{column}: ")
    assert problem in str(err.value)


def test_unknown_field_in_a_rule_fails_the_refresh_before_anything_changes(may):
    refresh(may, date(2024, 6, 1))
    (may.path / "tags.yaml").write_text(
        'tags:\n  - name: 坏\n    category: basic\n    kind: rule\n    values:\n      - {value: x, when: "agee > 3"}\n',
        encoding="utf-8",
    )
    with pytest.raises(RefreshError, match="tag 坏: unknown field 'agee'; did you mean 'age'"):
        refresh(may, date(2024, 9, 1))
    assert snapshots.current(may).as_of == "2024-06-01"


def test_the_default_library_covers_every_category():
    tags = default_library()
    assert {t.category for t in tags} == {"basic", "behavior", "preference", "value_risk"}
    assert len(tags) >= 20

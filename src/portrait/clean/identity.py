"""Identity merge: one customer registered through several channels becomes one record.

Records that share a normalised phone or email (compared by keyed hash) are joined into the
oldest record, keeping the latest non-empty value of every field. Blocked values (a shop's own
number or mailbox) never join anyone, a merge may join at most ``max_group_size`` records, and
pairs an analyst split with ``merge undo`` stay apart. Every merge is logged with its evidence
and the records as they were, so it can be undone exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from portrait.clean.parse import q
from portrait.config import IdentityConfig
from portrait.engine import run
from portrait.errors import InputError, NotFound
from portrait.privacy import Vault
from portrait.schema import CUSTOMERS
from portrait.warehouse import table_columns


@dataclass
class MergeOutcome:
    """What one identity-merge pass did."""

    merges: list[int] = field(default_factory=list)
    records_merged: int = 0
    skipped_too_large: int = 0
    skipped_kept_apart: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for the report."""
        return dict(self.__dict__)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def merge_identities(
    con: duckdb.DuckDBPyConnection, cfg: IdentityConfig, vault: Vault, import_id: int, schema: str = "wh"
) -> MergeOutcome:
    """Find and merge duplicate people among active customers of the warehouse (inside the caller's transaction)."""
    import pyarrow as pa  # loaded only where Arrow is used (0.2 s)

    outcome = MergeOutcome()
    customers = f"{schema}.customers"
    blocked = {h for key in cfg.merge_on for v in cfg.blocked_values if (h := vault.lookup_hash(key, v)) is not None}
    uf = _UnionFind()
    evidence: dict[tuple[str, str], list[str]] = {}
    for key in cfg.merge_on:
        rows = con.execute(
            f"SELECT {key}_hash, list(user_id ORDER BY user_id) FROM {customers} "
            f"WHERE merged_into IS NULL AND {key}_hash IS NOT NULL GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        for digest, members in rows:
            if digest in blocked:
                continue
            if len(members) > cfg.max_group_size:
                outcome.skipped_too_large += 1
                continue
            for other in members[1:]:
                uf.union(members[0], other)
            evidence[(key, digest)] = members
    groups: dict[str, list[str]] = {}
    for member in list(uf.parent):
        groups.setdefault(uf.find(member), []).append(member)
    groups = {root: sorted(m) for root, m in groups.items() if len(m) > 1}
    if not groups:
        return outcome
    apart = {
        frozenset(p) for p in con.execute(f"SELECT user_id_a, user_id_b FROM {schema}.identity_exclusions").fetchall()
    }
    next_id = con.execute(f"SELECT COALESCE(max(merge_id), 0) + 1 FROM {schema}.merge_log").fetchall()[0][0]
    plan_user, plan_merge = [], []
    logs = []
    for members in groups.values():
        if len(members) > cfg.max_group_size:
            outcome.skipped_too_large += 1
            continue
        if any(frozenset((a, b)) in apart for i, a in enumerate(members) for b in members[i + 1 :]):
            outcome.skipped_kept_apart += 1
            continue
        member_set = set(members)
        proof = [
            {"key": key, "records": [m for m in ms if m in member_set]}
            for (key, _), ms in evidence.items()
            if member_set.intersection(ms)
        ]
        plan_user.extend(members)
        plan_merge.extend([next_id] * len(members))
        logs.append((next_id, members, proof))
        outcome.merges.append(next_id)
        outcome.records_merged += len(members) - 1
        next_id += 1
    if not logs:
        return outcome
    plan = pa.table({"user_id": pa.array(plan_user, pa.string()), "merge_id": pa.array(plan_merge, pa.int64())})
    con.register("_merge_plan", plan)
    try:
        cols = [name for name, _ in table_columns(CUSTOMERS)]
        run(
            con,
            f"INSERT INTO {schema}.merge_before SELECT p.merge_id, {', '.join('c.' + q(c) for c in cols)} "
            f"FROM {customers} c JOIN _merge_plan p USING (user_id)",
        )
        # survivor: the oldest registration (then the smallest id); values: the latest observed one.
        # Values cleaning filled in (listed in _filled) count only when no member has an observed value.
        order = (
            f"SELECT p.merge_id, c.*, "
            f"row_number() OVER (PARTITION BY p.merge_id ORDER BY c.register_date NULLS LAST, c.user_id) AS _age_rank, "
            f"row_number() OVER (PARTITION BY p.merge_id "
            f"ORDER BY c.register_date NULLS FIRST, c._import_id, c._row, c.user_id) AS _recency "
            f"FROM {customers} c JOIN _merge_plan p USING (user_id)"
        )
        place = ("region", "province", "city", "city_tier")  # travel together, from one record
        value_cols = [f.name for f in CUSTOMERS.fields if f.name not in ("user_id", "register_date")] + [
            "city",
            "city_tier",
            "phone_hash",
            "email_hash",
            "id_number_hash",
        ]
        parts, filled = [], []
        for c in value_cols:
            col = q(c)
            if c in place:
                parts.append(f"arg_max_null({col}, _recency) FILTER (WHERE province IS NOT NULL) AS {col}")
                continue
            observed = (
                f"arg_max({col}, _recency) FILTER (WHERE {col} IS NOT NULL "
                f"AND NOT list_contains(_filled, '{c}') AND NOT list_contains(_filled, '{c}:unknown'))"
            )
            anything = f"arg_max({col}, _recency) FILTER (WHERE {col} IS NOT NULL)"
            parts.append(f"COALESCE({observed}, {anything}) AS {col}")
            filled.append(
                f"CASE WHEN {observed} IS NULL THEN arg_max(list_filter(_filled, lambda f: f = '{c}' OR "
                f"f = '{c}:unknown')[1], _recency) FILTER (WHERE {col} IS NOT NULL) END"
            )
        values = con.sql(
            f"SELECT merge_id, arg_min(user_id, _age_rank) AS survivor, min(register_date) AS register_date, "
            f"{', '.join(parts)}, list_filter([{', '.join(filled)}], lambda x: x IS NOT NULL) AS _filled "
            f"FROM ({order}) GROUP BY merge_id"
        ).to_arrow_table()
        con.register("_merge_values", values)  # a fixed table: the updates below must not change it
        sets = ", ".join(f"{q(c)} = v.{q(c)}" for c in [*value_cols, "register_date", "_filled"])
        run(con, f"UPDATE {customers} SET {sets} FROM _merge_values v WHERE {customers}.user_id = v.survivor")
        run(
            con,
            f"""UPDATE {customers} SET merged_into = v.survivor
                FROM _merge_plan p JOIN _merge_values v USING (merge_id)
                WHERE {customers}.user_id = p.user_id AND p.user_id <> v.survivor""",
        )
        survivors = dict(con.execute("SELECT merge_id, survivor FROM _merge_values").fetchall())
        con.executemany(
            f"INSERT INTO {schema}.merge_log VALUES (?, ?, now()::TIMESTAMP, ?, ?, ?, NULL, NULL)",
            [
                (mid, import_id, survivors[mid], members, json.dumps(proof, ensure_ascii=False))
                for mid, members, proof in logs
            ],
        )
    finally:
        con.unregister("_merge_plan")
        try:
            con.unregister("_merge_values")
        except Exception:  # noqa: BLE001 - not registered when an earlier step failed
            pass
    return outcome


def list_merges(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Return every merge with its survivor, members, evidence and whether it was undone."""
    rows = con.execute(
        "SELECT merge_id, import_id, merged_at, survivor, members, evidence, undone_at, undone_by "
        "FROM merge_log ORDER BY merge_id"
    ).fetchall()
    return [
        {
            "merge_id": r[0],
            "import_id": r[1],
            "merged_at": str(r[2]),
            "survivor": r[3],
            "members": r[4],
            "evidence": json.loads(r[5]),
            "undone_at": str(r[6]) if r[6] else None,
            "undone_by": r[7],
        }
        for r in rows
    ]


def undo_merge(con: duckdb.DuckDBPyConnection, merge_id: int, actor: str) -> dict[str, Any]:
    """Restore the records of one merge exactly as they were and keep them apart from now on."""
    found = con.execute("SELECT members, undone_at, survivor FROM merge_log WHERE merge_id = ?", [merge_id]).fetchall()
    if not found:
        raise NotFound(f"no merge {merge_id}; list merges with `portrait merge list`")
    members, undone_at, survivor = found[0]
    if undone_at is not None:
        raise InputError(f"merge {merge_id} was undone already at {undone_at}")
    later = con.execute(
        "SELECT min(merge_id) FROM merge_log WHERE merge_id > ? AND undone_at IS NULL AND len(list_intersect(members, ?)) > 0",
        [merge_id, members],
    ).fetchall()[0][0]
    if later is not None:
        raise InputError(
            f"merge {merge_id} was followed by merge {later} on the same customers; undo merge {later} first"
        )
    cols = [name for name, _ in table_columns(CUSTOMERS)]
    run(con, "BEGIN TRANSACTION")
    try:
        run(con, "DELETE FROM customers WHERE list_contains(?, user_id)", [members])
        run(
            con,
            f"INSERT INTO customers SELECT {', '.join(q(c) for c in cols)} FROM merge_before WHERE merge_id = ?",
            [merge_id],
        )
        pairs = [(a, b, merge_id) for i, a in enumerate(members) for b in members[i + 1 :]]
        con.executemany("INSERT INTO identity_exclusions VALUES (?, ?, ?)", pairs)
        run(
            con,
            "UPDATE merge_log SET undone_at = now()::TIMESTAMP, undone_by = ? WHERE merge_id = ?",
            [actor, merge_id],
        )
        run(con, "COMMIT")
    except Exception:
        run(con, "ROLLBACK")
        raise
    return {"merge_id": merge_id, "restored": members, "survivor_was": survivor}

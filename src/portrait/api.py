"""The Python API: what the CLI, the web app and notebooks call. One function per job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait import segments
from portrait.clean.identity import list_merges, undo_merge
from portrait.customers import customer_record
from portrait.ingest.job import ImportReport, import_files
from portrait.metrics import metrics
from portrait.quality import quality_report
from portrait.refresh import refresh, status
from portrait.tags import add_manual_tag, tag_history, tag_library, tag_stats
from portrait.workspace import Workspace, init_workspace, open_workspace

DEMO_TABLE_ORDER = ("products", "customers", "orders", "events", "interactions", "channels", "campaigns")

if TYPE_CHECKING:
    pass


# analyses and models (some load pandas and scikit-learn): imported on first use, so commands that need none start fast
_LAZY = {
    "churn_report": "portrait.models.churn",
    "Selection": "portrait.models.features_select",
    "correlation_filter": "portrait.models.features_select",
    "mutual_information": "portrait.models.features_select",
    "chi_square": "portrait.models.features_select",
    "pca": "portrait.models.features_select",
    "dimensions": "portrait.analysis",
    "funnel": "portrait.analysis",
    "cohorts": "portrait.analysis",
    "channels": "portrait.analysis",
    "paths": "portrait.journeys",
    "volume": "portrait.journeys",
    "aipl": "portrait.aipl",
    "campaign_report": "portrait.campaigns",
    "basket_rules": "portrait.basket",
    "clv_report": "portrait.models.clv",
    "fit_bgnbd": "portrait.models.clv",
    "fit_gamma_gamma": "portrait.models.clv",
    "cluster_report": "portrait.models.cluster",
    "recommend": "portrait.models.recommend",
    "evaluate_recommendations": "portrait.models.recommend",
}


def __getattr__(name: str) -> Any:
    """The model functions of ``_LAZY``, imported when first asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'portrait.api' has no attribute {name!r}")


def merges(ws: Workspace) -> list[dict[str, Any]]:
    """Every identity merge with its evidence."""
    ws.require("read")
    with ws.warehouse(read_only=True) as con:
        return list_merges(con)


def merge_undo(ws: Workspace, merge_id: int) -> dict[str, Any]:
    """Undo one identity merge: the records come back exactly as they were, and stay apart."""
    ws.require("import")
    with ws.warehouse() as con:
        result = undo_merge(con, merge_id, ws.actor)
    ws.audit("merge_undo", str(merge_id), restored=result["restored"])
    return result


def import_demo_shop(
    ws: Workspace, files: dict[str, Path], progress: Callable[[str, int, int], None] | None = None
) -> list[ImportReport]:
    """Import the demo shop's files in dependency order."""
    reports = []
    for name in DEMO_TABLE_ORDER:
        if name in files:
            reports.append(import_files(ws, name, [files[name]], progress=progress))
    return reports


def rfm(ws: Workspace) -> dict[str, Any]:
    """RFM thresholds, group sizes and averages from the current snapshot."""
    from portrait import snapshots
    from portrait.rfm import rfm_summary

    ws.require("read")
    with snapshots.reader(ws) as (con, snap):
        return {**rfm_summary(con), "snapshot": snap.id, "as_of": snap.as_of}


__all__ = [
    "Workspace",
    "init_workspace",
    "open_workspace",
    "import_files",
    "ImportReport",
    "quality_report",
    "customer_record",
    "merges",
    "merge_undo",
    "import_demo_shop",
    "refresh",
    "status",
    "metrics",
    "rfm",
    "tag_library",
    "tag_stats",
    "tag_history",
    "add_manual_tag",
    "segments",
    *_LAZY,
]

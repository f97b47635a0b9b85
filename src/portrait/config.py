"""Workspace configuration (`portrait.toml`): declared once, validated up front, errors name file:line."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from portrait.errors import ConfigError

CONFIG_NAME = "portrait.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EngineConfig(_Section):
    """Where and how the warehouse is computed."""

    kind: Literal["duckdb", "spark"] = "duckdb"
    memory_limit: str = "3GB"
    threads: int = Field(default=2, ge=1, le=256)
    # Spark (kind = "spark"): a master URL (local[N], spark://host:7077, yarn, k8s://…) or a Spark Connect URL
    spark_master: str = "local[2]"
    spark_connect_url: str | None = None
    # the folder where Spark and DuckDB exchange Parquet files; on a cluster, a path every node sees
    spark_dir: str = "spark"
    spark_conf: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _spark_urls(self) -> EngineConfig:
        if self.spark_connect_url is not None and not self.spark_connect_url.startswith("sc://"):
            raise ValueError("spark_connect_url must start with sc:// (e.g. sc://spark-host:15002)")
        return self


class CleaningConfig(_Section):
    """Thresholds of the cleaning rules (DOMAIN.md §3)."""

    missing_fill_below: float = Field(default=0.05, ge=0, le=1)
    numeric_fill: Literal["median", "mean"] = "median"
    unknown_label: str = "未知"
    age_min: int = 0
    age_max: int = 120
    mixed_type_share: float = Field(default=0.5, gt=0, le=1)
    outlier_iqr_k: float = Field(default=1.5, gt=0)
    outlier_sigma: float = Field(default=3.0, gt=0)
    key_fields: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "customers": ["gender", "age", "occupation", "member_level", "source_channel"],
            "orders": ["quantity", "category", "status", "terminal"],
            "events": ["channel"],
            "interactions": ["channel", "type"],
        }
    )
    category_synonyms: dict[str, str] = Field(
        default_factory=lambda: {
            "移动电话": "手机",
            "智能手机": "手机",
            "笔记本": "笔记本电脑",
            "手提电脑": "笔记本电脑",
            "化妆品": "美妆",
            "彩妆": "美妆",
            "衣服": "服饰",
            "服装": "服饰",
            "家用电器": "家电",
        }
    )


class IdentityConfig(_Section):
    """Identity merge: which keys join records, which values never do, how many records one merge may join."""

    merge_on: list[Literal["phone", "email", "id_number"]] = Field(default_factory=lambda: ["phone", "email"])
    blocked_values: list[str] = Field(
        default_factory=lambda: ["13800000000", "13800138000", "13888888888", "00000000000", "service@example.com"]
    )
    max_group_size: int = Field(default=5, ge=2)


class WindowsConfig(_Section):
    """Time windows of metrics, features and tags (days)."""

    value_days: int = Field(default=180, ge=1)  # "6 months" of value tags and average order value
    follow_up_days: int = Field(default=90, ge=1)  # retention / churn follow-up after a period
    returning_visit_days: int = Field(default=6, ge=1)  # a visitor back within this many days is returning
    active_min_visits: int | None = Field(default=None, ge=1)  # also active: visited at least N days


class BandsConfig(_Section):
    """Band edges: a value below edge i falls in label i; the last label is open-ended."""

    age_edges: list[int] = Field(default_factory=lambda: [18, 26, 36, 46])
    age_labels: list[str] = Field(default_factory=lambda: ["18岁以下", "18-25岁", "26-35岁", "36-45岁", "46岁以上"])

    @model_validator(mode="after")
    def _labels_fit_edges(self) -> BandsConfig:
        if len(self.age_labels) != len(self.age_edges) + 1:
            raise ValueError(f"age_labels needs {len(self.age_edges) + 1} labels for {len(self.age_edges)} edges")
        if self.age_edges != sorted(self.age_edges):
            raise ValueError("age_edges must increase")
        return self


class RfmConfig(_Section):
    """RFM: a score is high when above the mean (or the median) of all buyers' scores."""

    compare: Literal["mean", "median"] = "mean"


class ScheduleConfig(_Section):
    """Scheduled refresh: which as-of date a scheduled run uses."""

    as_of: Literal["today", "month_start", "last_activity"] = "today"


class JourneysConfig(_Section):
    """Behaviour trajectories: the gap that ends a session, how many pages a flow names."""

    session_gap_minutes: int = Field(default=30, ge=1)  # a longer pause between two events starts a new session
    top_pages: int = Field(default=8, ge=1)  # pages (and sources) named in flows; the rest is 其他


Behavior = Literal["pv", "click", "search", "fav", "cart", "order", "pay", "comment", "like"]


class AiplConfig(_Section):
    """AIPL lifecycle: the rules placing a customer in a period (the highest stage that holds wins)."""

    period_days: int = Field(default=30, ge=1)
    interest_behaviors: list[Behavior] = Field(default_factory=lambda: ["fav", "cart"])  # I: any of these
    interest_min_visit_days: int = Field(default=3, ge=1)  # I: or visits on at least this many days
    interest_consultations: bool = True  # I: or a consultation with customer service
    loyal_min_orders: int = Field(default=2, ge=2)  # L: at least this many paid orders in the period
    loyal_member_levels: list[str] = Field(default_factory=list)  # L: or a buyer of the period at these levels


class CampaignConfig(_Section):
    """Campaign evaluation: the windows compared and the smallest group a test is run on."""

    window_days: int = Field(default=30, ge=1)  # conversion window after (and before) the start
    retention_days: int = Field(default=90, ge=1)  # a new buyer buying again within this many days is retained
    min_group_size: int = Field(default=30, ge=2)  # smaller treatment or control groups get no test
    confidence: float = Field(default=0.95, gt=0, lt=1)


class ModelsConfig(_Section):
    """Models fitted during a refresh (churn warning, …)."""

    churn_days: int = Field(default=90, ge=7, le=730)  # churned: no purchase in this many days after the cut-off
    churn_train_rows: int = Field(default=200_000, ge=100)  # at most this many customers per training table (sampled)
    churn_min_customers: int = Field(default=50, ge=10)  # fewer buyers at a cut-off: the model is skipped
    churn_min_class: int = Field(default=10, ge=1)  # fewer churners (or stayers) at a cut-off: skipped
    seed: int = 7  # sampling and model seeds


class ClvConfig(_Section):
    """Customer lifetime value (BG/NBD + Gamma-Gamma): the yearly rate future purchases are discounted at."""

    discount_rate: float = Field(default=0.10, ge=0, le=10)


class ClusterConfig(_Section):
    """Customer clusters: the range of k tried, and the seeded samples that choose it."""

    k_min: int = Field(default=3, ge=2, le=50)
    k_max: int = Field(default=8, ge=2, le=50)
    min_customers: int = Field(default=30, ge=4)
    selection_sample: int = Field(default=10_000, ge=100)  # customers the candidate k-means are fitted on
    silhouette_sample: int = Field(default=3_000, ge=100)  # customers the silhouette is measured on
    seed: int = 0


class RecommendConfig(_Section):
    """Item-based recommendations: behaviour weights, neighbours kept per item, the popularity window."""

    neighbours: int = Field(default=30, ge=1, le=500)
    purchase_weight: float = Field(default=1.0, gt=0)
    cart_weight: float = Field(default=0.6, ge=0)
    fav_weight: float = Field(default=0.5, ge=0)
    click_weight: float = Field(default=0.2, ge=0)
    view_weight: float = Field(default=0.1, ge=0)  # a product page view (pv with a product)
    min_common: int = Field(default=2, ge=1)  # customers two items must share to be neighbours
    history_cap: int = Field(default=200, ge=1)  # a customer's strongest items that count for similarity
    popular_days: int = Field(default=90, ge=1)  # best sellers: distinct buyers over this many days
    test_days: int = Field(default=30, ge=1)  # evaluation: the default split is this many days before the as-of


class PortraitConfig(_Section):
    """The whole `portrait.toml`."""

    engine: EngineConfig = Field(default_factory=EngineConfig)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    windows: WindowsConfig = Field(default_factory=WindowsConfig)
    bands: BandsConfig = Field(default_factory=BandsConfig)
    rfm: RfmConfig = Field(default_factory=RfmConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    journeys: JourneysConfig = Field(default_factory=JourneysConfig)
    aipl: AiplConfig = Field(default_factory=AiplConfig)
    campaigns: CampaignConfig = Field(default_factory=CampaignConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    clv: ClvConfig = Field(default_factory=ClvConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)


def default_config_text() -> str:
    """Return the TOML text a new workspace starts with."""
    header = (
        "# Portrait workspace configuration. Every key is optional; defaults are shown.\n"
        "# Docs: docs/configuration.md\n\n"
    )
    return header + tomli_w.dumps(PortraitConfig().model_dump(exclude_none=True))


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{key} ") or stripped.startswith(f"{key}=") or stripped == f"[{key}]":
            return number
    return None


def load_config(path: Path) -> PortraitConfig:
    """Read and validate `portrait.toml`; a bad file raises ConfigError naming file, line and field."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    try:
        return PortraitConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        key = loc[-1] if loc else "?"
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        dotted = ".".join(loc)
        if err["type"] == "extra_forbidden":
            section = PortraitConfig
            for part in loc[:-1]:
                section = section.model_fields[part].annotation  # type: ignore[assignment]
            choices = list(section.model_fields)  # type: ignore[union-attr]
            hint = difflib.get_close_matches(key, choices, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"known keys: {', '.join(choices)}"
            raise ConfigError(f"{where}: unknown setting '{dotted}'; {fix}") from None
        raise ConfigError(f"{where}: setting '{dotted}': {err['msg']}") from None

"""Application metadata: users and roles, and the audit log (SQLAlchemy 2; SQLite by default).

The warehouse holds data; the store holds who may see it and what happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

from portrait.errors import InputError, NotFound, WorkspaceError

# role → permissions. ``reveal_personal`` is the only way to see clear personal values.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "import", "manage_users", "reveal_personal", "erase"}),
    "analyst": frozenset({"read", "import"}),
    "marketing": frozenset({"read"}),
    "service": frozenset({"read"}),
    "service_lead": frozenset({"read", "reveal_personal"}),
    "sales_manager": frozenset({"read", "reveal_personal"}),
}
DEFAULT_ACTOR = "local"  # the person at the terminal when no --user is given: an analyst


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class User(Base):
    """A person who may use the workspace, and their role."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEntry(Base):
    """One thing that happened: who did what to which target, with details (never clear personal data)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    detail: Mapped[str] = mapped_column(Text, default="{}")


class Job(Base):
    """A long job (refresh): its status, the stage it reached, and why it failed."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))  # running / ok / failed
    stage: Mapped[str] = mapped_column(String(60), default="")
    actor: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")


class ManualTag(Base):
    """A tag staff put on a customer by hand, with who, when and why."""

    __tablename__ = "manual_tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(100), index=True)
    tag: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime)
    why: Mapped[str] = mapped_column(Text)


class Segment(Base):
    """A saved segment: a name and its rule."""

    __tablename__ = "segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    rule: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """The application store of one workspace."""

    def __init__(self, url: str) -> None:
        self.url = url
        # a server store gets no connection pool: each session opens and closes its own connection,
        # so nothing is left open when a workspace object goes away (the store is not on a hot path)
        self.engine: Engine = create_engine(url) if url.startswith("sqlite") else create_engine(url, poolclass=NullPool)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        """A session; an unreachable store is a WorkspaceError naming it (and nothing is half-written)."""
        try:
            with Session(self.engine) as session:
                if write:
                    with session.begin():
                        yield session
                else:
                    yield session
        except (OperationalError, InterfaceError) as exc:
            first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
            self.engine.dispose()  # close the pooled connections the dead server left behind
            raise WorkspaceError(
                f"the store {self.safe_url} is unavailable ({first}); start it or set PORTRAIT_STORE_URL"
            ) from None

    def create(self) -> None:
        """Create the store's tables if missing."""
        try:
            Base.metadata.create_all(self.engine)
        except (OperationalError, InterfaceError) as exc:
            first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
            self.engine.dispose()  # close the pooled connections the dead server left behind
            raise WorkspaceError(
                f"the store {self.safe_url} is unavailable ({first}); start it or set PORTRAIT_STORE_URL"
            ) from None

    def audit(self, actor: str, action: str, target: str = "", outcome: str = "ok", **detail: Any) -> None:
        """Append an entry to the audit log."""
        with self._session(write=True) as session:
            session.add(
                AuditEntry(
                    at=datetime.now(UTC).replace(tzinfo=None),
                    actor=actor,
                    action=action,
                    target=target,
                    outcome=outcome,
                    detail=json.dumps(detail, ensure_ascii=False, default=str),
                )
            )

    def audit_entries(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        """Return the newest audit entries first."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEntry.action == action)
        with self._session() as session:
            return [
                {
                    "id": e.id,
                    "at": e.at.isoformat(sep=" ", timespec="seconds"),
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "outcome": e.outcome,
                    "detail": json.loads(e.detail),
                }
                for e in session.scalars(query)
            ]

    def start_job(self, kind: str, actor: str, **detail: Any) -> int:
        """Record a job as running; return its id."""
        with self._session(write=True) as session:
            job = Job(
                kind=kind, status="running", actor=actor, started_at=_now(), detail=json.dumps(detail, default=str)
            )
            session.add(job)
            session.flush()
            return job.id

    def update_job(self, job_id: int, **changes: Any) -> None:
        """Change a job's status, stage, message or detail (finished_at is set when it stops running)."""
        with self._session(write=True) as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            for key, value in changes.items():
                setattr(job, key, json.dumps(value, default=str, ensure_ascii=False) if key == "detail" else value)
            if changes.get("status") in ("ok", "failed"):
                job.finished_at = _now()

    def jobs(self, kind: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """The newest jobs first."""
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if kind:
            query = query.where(Job.kind == kind)
        with self._session() as session:
            return [
                {
                    "id": j.id,
                    "kind": j.kind,
                    "status": j.status,
                    "stage": j.stage,
                    "actor": j.actor,
                    "started_at": j.started_at.isoformat(sep=" ", timespec="seconds"),
                    "finished_at": j.finished_at.isoformat(sep=" ", timespec="seconds") if j.finished_at else None,
                    "message": j.message,
                    "detail": json.loads(j.detail or "{}"),
                }
                for j in session.scalars(query)
            ]

    def add_manual_tag(self, user_id: str, tag: str, value: str, actor: str, why: str) -> None:
        """Record a manual tag."""
        with self._session(write=True) as session:
            session.add(ManualTag(user_id=user_id, tag=tag, value=value, actor=actor, at=_now(), why=why))

    def manual_tags(self) -> list[dict[str, Any]]:
        """Every manual tag, oldest first (a later one on the same customer and tag wins)."""
        with self._session() as session:
            return [
                {
                    "user_id": m.user_id,
                    "tag": m.tag,
                    "value": m.value,
                    "by": m.actor,
                    "at": m.at.isoformat(sep=" ", timespec="seconds"),
                    "why": m.why,
                }
                for m in session.scalars(select(ManualTag).order_by(ManualTag.id))
            ]

    def save_segment(self, name: str, rule: str, description: str, actor: str) -> None:
        """Save (or replace) a segment definition."""
        with self._session(write=True) as session:
            seg = session.scalar(select(Segment).where(Segment.name == name))
            if seg is None:
                session.add(Segment(name=name, rule=rule, description=description, actor=actor, updated_at=_now()))
            else:
                seg.rule, seg.description, seg.actor, seg.updated_at = rule, description, actor, _now()

    def segments(self) -> list[dict[str, Any]]:
        """Every saved segment."""
        with self._session() as session:
            return [
                {
                    "name": s.name,
                    "rule": s.rule,
                    "description": s.description,
                    "by": s.actor,
                    "updated_at": s.updated_at.isoformat(sep=" ", timespec="seconds"),
                }
                for s in session.scalars(select(Segment).order_by(Segment.name))
            ]

    def segment(self, name: str) -> dict[str, Any] | None:
        """One saved segment, or None."""
        return next((s for s in self.segments() if s["name"] == name), None)

    def add_user(self, name: str, role: str) -> None:
        """Add a user with a role; an unknown role or a taken name raises InputError."""
        if role not in ROLES:
            raise InputError(f"unknown role '{role}': choose one of {', '.join(ROLES)}")
        try:
            with self._session(write=True) as session:
                session.add(User(name=name, role=role, created_at=datetime.now(UTC).replace(tzinfo=None)))
        except IntegrityError:
            raise InputError(f"user '{name}' exists already; use `portrait user role {name} ROLE`") from None

    def set_role(self, name: str, role: str) -> None:
        """Change a user's role."""
        if role not in ROLES:
            raise InputError(f"unknown role '{role}': choose one of {', '.join(ROLES)}")
        with self._session(write=True) as session:
            user = session.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user '{name}'; add it with `portrait user add {name} --role {role}`")
            user.role = role

    def users(self) -> list[dict[str, str]]:
        """Return every user with their role."""
        with self._session() as session:
            return [{"name": u.name, "role": u.role} for u in session.scalars(select(User).order_by(User.name))]

    def role_of(self, name: str) -> str:
        """Return the role of a user; the default local actor is an analyst."""
        with self._session() as session:
            user = session.scalar(select(User).where(User.name == name))
        if user is None:
            if name == DEFAULT_ACTOR:
                return "analyst"
            raise NotFound(f"no user '{name}'; add it with `portrait user add {name} --role ROLE`")
        return user.role

    def permissions(self, name: str) -> frozenset[str]:
        """Return what a user may do."""
        return ROLES[self.role_of(name)]

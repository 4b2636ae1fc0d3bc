"""Users, their web sessions and their site groups, in SQL (``UserRepository``, ``SiteGroupRepository``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError

from nvflare_fdd.platform.errors import NotFound, StorageConflict
from nvflare_fdd.platform.records import SiteGroup, User
from nvflare_fdd.platform.schema import SiteGroupRow, UserRow, WebSessionRow
from nvflare_fdd.platform.sql.base import SqlBase, utc_now
from nvflare_fdd.platform.sql.rows import user_record, user_row


class SqlUsers(SqlBase):
    """Users and web sessions."""

    def ensure_user(self, name: str, is_admin: bool = False) -> User:
        """The user ``name``, created (without a password) if new."""
        with self._session() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).first()
            if row is None:
                row = UserRow(name=name, password_hash=None, is_admin=is_admin, created_at=utc_now())
                session.add(row)
                try:
                    session.flush()
                except IntegrityError:  # created meanwhile by another process
                    session.rollback()
                    row = session.scalars(select(UserRow).where(UserRow.name == name)).one()
            return user_record(row)

    def create_user(self, name: str, password_hash: str | None, is_admin: bool = False) -> User:
        """A new user; ``StorageConflict`` if the name is taken."""
        with self._session() as session:
            row = UserRow(name=name, password_hash=password_hash, is_admin=is_admin, created_at=utc_now())
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise StorageConflict(f"a user named {name!r} already exists", code="user.exists", params={"name": name}) from None
            return user_record(row)

    def set_password(self, name: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        with self._session() as session:
            user_row(session, name).password_hash = password_hash

    def password_hash(self, name: str) -> str | None:
        """The user's password hash, or ``None`` (no password, or no such user)."""
        with self._session() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).first()
            return row.password_hash if row else None

    def get_user(self, name: str) -> User:
        """The user ``name``."""
        with self._session() as session:
            return user_record(user_row(session, name))

    def list_users(self) -> list[User]:
        """Every user, by name."""
        with self._session() as session:
            return [user_record(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def add_web_session(self, user: str, token_hash: str, expires_at: datetime) -> None:
        """Record a signed-in session (the cookie carries the token; only its hash is kept)."""
        with self._session() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < utc_now()))  # expired ones go
            session.add(WebSessionRow(token_hash=token_hash, user_id=user_row(session, user).id, created_at=utc_now(),
                                      expires_at=expires_at))  # fmt: skip

    def web_session_user(self, token_hash: str) -> User | None:
        """The user of a live session, or ``None`` (unknown, revoked or expired)."""
        with self._session() as session:
            row = session.get(WebSessionRow, token_hash)
            if row is None or row.expires_at <= utc_now():
                return None
            return user_record(session.get_one(UserRow, row.user_id))

    def end_web_session(self, token_hash: str) -> None:
        """End one session."""
        with self._session() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_hash))

    def end_web_sessions(self, user: str) -> int:
        """Revoke every session of ``user`` (a new password); returns how many there were."""
        with self._session() as session:
            deleted = session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == user_row(session, user).id))
            return cast("CursorResult[Any]", deleted).rowcount


class SqlSiteGroups(SqlBase):
    """Each user's saved site groups."""

    def save_group(self, owner: str, name: str, sites: Iterable[str]) -> SiteGroup:
        """Save (or overwrite) one of ``owner``'s site groups."""
        with self._session() as session:
            owner_row = user_row(session, owner)
            row = session.scalars(
                select(SiteGroupRow).where(SiteGroupRow.owner_id == owner_row.id, SiteGroupRow.name_key == name.lower())
            ).first()
            if row is None:
                row = SiteGroupRow(owner_id=owner_row.id, name=name, name_key=name.lower(), sites=list(sites))
                session.add(row)
            else:  # the same name, perhaps in other letter case: this group, renamed
                row.name, row.sites = name, list(sites)
            return SiteGroup(name=name, owner=owner, sites=tuple(row.sites))

    def list_groups(self, owner: str) -> list[SiteGroup]:
        """``owner``'s groups, by name."""
        with self._session() as session:
            owner_row = user_row(session, owner)
            rows = session.scalars(select(SiteGroupRow).where(SiteGroupRow.owner_id == owner_row.id).order_by(SiteGroupRow.name))
            return [SiteGroup(name=row.name, owner=owner, sites=tuple(row.sites)) for row in rows]

    def delete_group(self, owner: str, name: str) -> None:
        """Delete one of ``owner``'s groups; ``NotFound`` if there is none of that name."""
        with self._session() as session:
            owner_row = user_row(session, owner)
            deleted = session.execute(
                delete(SiteGroupRow).where(SiteGroupRow.owner_id == owner_row.id, SiteGroupRow.name_key == name.lower())
            )
            if not cast("CursorResult[Any]", deleted).rowcount:
                raise NotFound(f"{owner} has no site group named {name!r}", code="group.not_found", params={"name": name})

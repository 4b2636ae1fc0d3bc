"""The contracts of users, their web sessions and their site groups."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from nvflare_fdd.platform.records import SiteGroup, User


class UserRepository(Protocol):
    """Users and their signed-in web sessions."""

    def ensure_user(self, name: str, is_admin: bool = False) -> User:
        """The user ``name``; created without a password (and with ``is_admin``) if new.

        Never raises for an existing name, also when another process creates it at the same time.
        """
        ...

    def create_user(self, name: str, password_hash: str | None, is_admin: bool = False) -> User:
        """A new user.

        Raises:
            StorageConflict: the name is taken (``user.exists``).
        """
        ...

    def set_password(self, name: str, password_hash: str) -> None:
        """Replace a user's password hash.

        Raises:
            NotFound: no such user (``user.not_found``).
        """
        ...

    def password_hash(self, name: str) -> str | None:
        """The user's password hash; ``None`` for a user without a password or no such user."""
        ...

    def get_user(self, name: str) -> User:
        """The user ``name``.

        Raises:
            NotFound: no such user (``user.not_found``).
        """
        ...

    def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    def add_web_session(self, user: str, token_hash: str, expires_at: datetime) -> None:
        """Record a signed-in session (the cookie carries the token; only its hash is kept); expired sessions go.

        Raises:
            NotFound: no such user (``user.not_found``).
        """
        ...

    def web_session_user(self, token_hash: str) -> User | None:
        """The user of a live session; ``None`` when the session is unknown, ended or expired."""
        ...

    def end_web_session(self, token_hash: str) -> None:
        """End one session; an unknown one is no error."""
        ...

    def end_web_sessions(self, user: str) -> int:
        """End every session of ``user`` (after a new password); returns how many there were.

        Raises:
            NotFound: no such user (``user.not_found``).
        """
        ...



class SiteGroupRepository(Protocol):
    """Each user's saved site groups; a group's name is unique per owner, in any letter case."""

    def save_group(self, owner: str, name: str, sites: Iterable[str]) -> SiteGroup:
        """Save a group, or overwrite the owner's group of the same name (in any letter case: it takes this spelling).

        Raises:
            NotFound: no such owner (``user.not_found``).
        """
        ...

    def list_groups(self, owner: str) -> list[SiteGroup]:
        """The owner's groups, by name.

        Raises:
            NotFound: no such owner (``user.not_found``).
        """
        ...

    def delete_group(self, owner: str, name: str) -> None:
        """Delete the owner's group ``name`` (in any letter case).

        Raises:
            NotFound: no such owner (``user.not_found``) or group (``group.not_found``).
        """
        ...

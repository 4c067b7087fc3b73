"""Accounts' read model: the directory of accounts (status without hashes), in memory,
projected from the service's own log, for the administrator's paged and searchable list, and
which account each single sign-on identity (issuer, subject) is linked to.
Rebuilt from the log at start (a city has a few thousand accounts)."""

from __future__ import annotations

from typing import Any

from shared.projection import LogProjection

from services.accounts.domain import Account


class AccountDirectory(LogProjection):
    name = "account_directory"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.rows: dict[str, dict[str, Any]] = {}  # username -> row
        self._by_id: dict[Any, str] = {}
        # (issuer, subject) -> username: single sign-on's links (ExternalIdentityLinked)
        self.external: dict[tuple[str, str], str] = {}

    def clear(self) -> None:
        self.rows.clear()
        self._by_id.clear()
        self.external.clear()

    def apply(self, domain_event: Any, notification_id: int) -> None:
        if isinstance(domain_event, Account.Created):
            e = domain_event
            self._by_id[e.originator_id] = e.username
            self.rows[e.username] = {"username": e.username, "display_name": e.display_name,
                                     "roles": list(e.roles), **e.links, "enabled": True,
                                     "must_change_password": e.must_change_password,
                                     "changed_at": e.at.isoformat()}
            return
        username = self._by_id.get(domain_event.originator_id)
        row = self.rows.get(username) if username else None
        if row is None:
            return
        kind = type(domain_event).__name__
        if kind == "ExternalIdentityLinked":  # the first account linked keeps the identity
            self.external.setdefault((domain_event.issuer, domain_event.subject), username)
        elif kind in ("RolesGranted", "RolesRevoked"):
            row["roles"] = list(domain_event.after)
        elif kind == "Linked":
            row.update(domain_event.after)
        elif kind == "Disabled":
            row["enabled"] = False
        elif kind == "Enabled":
            row["enabled"] = True
        elif kind == "PasswordReset":
            row["must_change_password"] = True
        elif kind == "PasswordChanged":
            row["must_change_password"] = False
        at = getattr(domain_event, "at", None)
        if at is not None:
            row["changed_at"] = at.isoformat()

    def linked(self, issuer: str, subject: str) -> str | None:
        """The username of the account linked to the identity (issuer, subject), if any."""
        return self.external.get((issuer, subject))

    def matching(self, q: str | None, role: str | None, enabled: bool | None,
                 ) -> list[dict[str, Any]]:
        words = (q or "").strip().lower()
        rows = [dict(r) for _, r in sorted(self.rows.items())
                if (not words or words in r["username"].lower()
                    or words in (r["display_name"] or "").lower())
                and (role is None or role in r["roles"])
                and (enabled is None or r["enabled"] == enabled)]
        return rows


class AccountsViews:
    def __init__(self, app: Any) -> None:
        self.directory = AccountDirectory(app)

    @property
    def projections(self) -> list[LogProjection]:
        return [self.directory]

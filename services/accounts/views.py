"""How accounts are shown: the account status (domain.Account.status) for the API, and the
Chinese labels of roles and history entries for the web pages."""

from __future__ import annotations

from services.accounts.domain import EVENT_ZH, ROLE_ZH

__all__ = ["EVENT_ZH", "ROLE_ZH"]

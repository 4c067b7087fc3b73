"""The staff web application (Chinese, server-rendered with Jinja2 and htmx) under ``/app/``.

``register_web(app)`` adds the pages and the vendored static files to the gateway. Every page
calls the services through the gateway's ``Services`` client as the signed-in user; nothing
is loaded from the internet at run time.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.gateway.web.common import BASE, HERE


def register_web(app: FastAPI) -> None:
    from services.gateway.web import (
        exports, pages_common, pages_deputy, pages_notifications, pages_office,
        pages_liaison, pages_office_admin, pages_office_bulk, pages_office_messages,
        pages_projects, pages_reports, pages_unit,
    )

    app.mount(f"{BASE}/static", StaticFiles(directory=str(HERE / "static")), name="web-static")
    for module in (pages_common, pages_office, pages_office_admin, pages_office_bulk,
                   pages_office_messages,
                   pages_unit, pages_deputy, pages_notifications, pages_projects, pages_reports,
                   pages_liaison, exports):
        app.include_router(module.router, include_in_schema=False)

    from services.gateway.web import pages_accounts  # 修改密码 and 账号管理 (services/accounts)

    app.include_router(pages_accounts.router, include_in_schema=False)

    from services.gateway.web import pages_leader  # 我的督办件 (supervision)

    app.include_router(pages_leader.router, include_in_schema=False)

    from services.gateway.web import pages_registry  # 基础数据 and 换届 (services/registry)

    app.include_router(pages_registry.router, include_in_schema=False)

    from services.gateway.web import pages_templates  # 答复模板 (services/supervision)

    app.include_router(pages_templates.router, include_in_schema=False)

    from services.gateway.web import pages_routing  # 交办规则 (services/assignment)

    app.include_router(pages_routing.router, include_in_schema=False)

    from services.gateway.web import pages_attachments  # files: downloads (答复函, 证明材料)

    app.include_router(pages_attachments.router, include_in_schema=False)

    from services.gateway.web import pages_sso  # single sign-on (OIDC_ISSUER; oidc.py)

    app.include_router(pages_sso.router, include_in_schema=False)

    @app.get(BASE, include_in_schema=False)
    async def app_root() -> RedirectResponse:
        return RedirectResponse(f"{BASE}/", status_code=307)

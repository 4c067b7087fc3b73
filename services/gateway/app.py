"""The gateway's FastAPI application."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import OAuth2PasswordRequestForm
from faststream.nats import NatsBroker
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from pydantic_settings import SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import heap
from shared.settings import ServiceSettings
from shared.telemetry import build_tracer_provider
from services.gateway.routes_assignment import register_assignment_routes
from services.gateway.routes_attachments import (UPLOAD_FORM_BYTES, UPLOAD_PATHS,
                                                 register_attachment_routes)
from services.gateway.routes_audit import register_audit_routes
from services.gateway.routes_imports import IMPORT_UPLOAD_PATHS, register_import_routes
from services.gateway.routes_intake import register_intake_routes
from services.gateway.routes_liaison import register_liaison_routes
from services.gateway.routes_notifications import register_notification_routes
from services.gateway.follow_up_pages import register_follow_up_pages
from services.gateway.public_pages import register_public_pages
from services.gateway.routes_open311 import register_open311_routes
from services.gateway.routes_points import register_points_routes
from services.gateway.routes_projects import register_projects_routes
from services.gateway.routes_registry import register_registry_routes
from services.gateway.routes_reports import register_reports_routes
from services.gateway.routes_supervision import register_supervision_routes
from services.gateway.deputy_pages import register_deputy_pages
from services.gateway.station_pages import register_station_pages
from services.gateway.web import register_web
from services.gateway.ratelimit import install_citizen_rate_limit, install_login_throttle
from services.gateway.auth import (DEV_SECRET, ROLES, Authenticator, Principal, check_startup,
                                   load_users, ops_access, require)
from services.gateway.idempotency import install_idempotency
from services.gateway.accounts import AccountCache, AccountFreshness
from services.gateway.oidc import OidcClient, config_from_settings
from services.gateway.routes_accounts import register_account_routes
from services.gateway.limits_middleware import install_request_limits, parse_proxies
from shared.contracts.requests.assignment import AssignSuggestion, CaseAssignment, Units
from shared.contracts.requests.points import CasePoints
from shared.contracts.requests.runtime import Health, Metrics
from shared.contracts.requests.supervision import GetCase, ListTasks
from shared.contracts.requests.intake import (
    AnswerMessage,
    ClaimMessage,
    ConvertMessage,
    DeclineSuggestion,
    ErasePersonalData,
    ForwardMessage,
    GetMessage,
    GetSuggestion,
    GiveUpMessage,
    PostMessage,
    RateMessage,
    Reference,
    RegisterSuggestion,
    SubmitSuggestion,
)
from services.gateway.deps import (
    admitted,
    body_of,
    request_of,
    sends,
    Any_,
    FollowUpToken,
    MaybePrincipal,
    ServiceFailure,
    Services,
    ServicesDep,
    SIGNED_IN,
    ServiceUnavailable,
    declare_problem_responses,
    problem,
    problem_responses,
)

log = logging.getLogger(__name__)

SERVICES = ("intake", "assignment", "supervision", "points", "notifications", "accounts", "projects", "reports",
            "liaison", "registry")


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = "gateway"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    jwt_secret: str = DEV_SECRET
    jwt_issuer: str = "duty-liaison-gateway"
    jwt_audience: str = "duty-liaison-api"
    jwt_ttl_minutes: int = 60
    health_timeout_seconds: float = 1.0
    # The address citizens reach the gateway at, for station QR codes (default: as requested).
    public_base_url: str | None = None
    # Per client IP on the anonymous citizen endpoints (see ratelimit.py); "" or "off": none.
    citizen_rate_limit: str = "10/minute"
    # Hardening (docs/security.md). Development mode (DUTY_DEV_MODE=true: make run, the tests)
    # accepts the development secret and users and opens /metrics and detailed health;
    # outside it the gateway refuses to start with either (auth.check_startup).
    duty_dev_mode: bool = False
    users_file: Path | None = None  # default: config/users.yaml; read again when it changes
    # Who signs users in: the accounts service (default; the gateway never sees a hash) or,
    # for a gateway without it, the user list of ``users_file`` (the former way).
    accounts_source: Literal["service", "file"] = "service"
    # How long the status of an account is kept between account events (services/gateway/accounts.py)
    account_cache_seconds: float = 30.0
    users_reload_seconds: float = 5.0
    login_failure_limit: str = "5/minute;20/hour"  # failed sign-ins per username
    login_address_failure_limit: str = "20/minute;100/hour"  # ... per client address
    trusted_proxies: str = ""  # addresses/networks whose X-Forwarded-For is believed
    max_body_bytes: int = 1024 * 1024
    body_timeout_seconds: float = 20.0
    idempotency_bucket: str = "duty_gateway_idempotency"
    idempotency_ttl_hours: float = 24.0
    idempotency_pending_seconds: float = 60.0
    metrics_token: str = ""  # a bearer token for /metrics and detailed health (or an office token)
    # Single sign-on through the office's OpenID Connect provider (services/gateway/oidc.py,
    # docs/security.md): off without OIDC_ISSUER.
    oidc_issuer: str | None = None
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_url: str | None = None  # default: <this address>/app/login/oidc/callback
    oidc_username_claim: str = "preferred_username"
    oidc_button_text: str = "统一身份认证登录"




# Bodies from the request contracts (shared/contracts/requests/): their fields but the path's.
SubmitSuggestionBody = body_of(SubmitSuggestion)
RegisterBody = body_of(RegisterSuggestion, "suggestion_id")
DeclineBody = body_of(DeclineSuggestion, "suggestion_id")
AssignmentBody = body_of(AssignSuggestion, "suggestion_id")
PostMessageBody = body_of(PostMessage, "station_id")
AnswerBody = body_of(AnswerMessage, "message_id")
ConvertBody = body_of(ConvertMessage, "message_id")
ForwardBody = body_of(ForwardMessage, "message_id")
RatingBody = body_of(RateMessage, "message_id")

# Principals from the roles the contracts admit (a route may admit fewer).
Submitting = admitted(SubmitSuggestion)
Registering = admitted(RegisterSuggestion)
Declining = admitted(DeclineSuggestion)
StaffReading = admitted(GetSuggestion, "office", "leader", "unit", "deputy")
Claiming = admitted(ClaimMessage)
GivingUp = admitted(GiveUpMessage)
Answering = admitted(AnswerMessage)
Converting = admitted(ConvertMessage)
Forwarding = admitted(ForwardMessage)
Erasing = admitted(ErasePersonalData)


def create_app(settings: GatewaySettings | None = None,
               tracer_provider: TracerProvider | None = None, *,
               freeze_heap: bool = False) -> FastAPI:
    """The gateway application. ``freeze_heap`` (the entry point's choice, as the services'
    ``run_service``): once started, move every object alive (modules, routes, schemas: the
    whole start-up heap) out of the cyclic collector's reach (shared/heap.py)."""
    settings = settings or GatewaySettings()
    from_file = settings.accounts_source == "file"
    users_file = settings.users_file or settings.config_dir / "users.yaml"
    # with the accounts service, users are its own (it refuses development users itself)
    users = load_users(users_file) if from_file else []
    check_startup(dev_mode=settings.duty_dev_mode, secret=settings.jwt_secret, users=users)
    parse_proxies(settings.trusted_proxies)  # a malformed list stops the start here
    if settings.jwt_secret == DEV_SECRET:
        log.warning("JWT_SECRET is not set: using the development secret")
    tracer_provider = tracer_provider or build_tracer_provider("gateway", settings)
    broker = NatsBroker(  # owns the NATS connection (reconnects); Services requests on it
        settings.nats_servers(),
        logger=None, name="duty-gateway", max_reconnect_attempts=-1, reconnect_time_wait=1,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await broker.start()
        accounts = app.state.authenticator.accounts
        if accounts is not None:
            await accounts.listen(broker.config.connection_state.connection)
        if freeze_heap:
            heap.freeze_heap()
        yield
        if accounts is not None:
            await accounts.close()
        await broker.stop()

    app = FastAPI(
        title="Deputy liaison platform — gateway API",
        version="1.0.0",
        description="Staff API in front of the intake, assignment, supervision and points services.",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # self-hosted below (register_api_docs)
    )
    app.state.settings = settings
    app.state.services = Services(broker, settings.rpc_timeout_seconds,
                                  tracer_provider.get_tracer("duty.gateway"))
    app.state.authenticator = Authenticator(
        users, settings.jwt_secret, settings.jwt_issuer,
        settings.jwt_audience, timedelta(minutes=settings.jwt_ttl_minutes),
        users_file=users_file if from_file else None,
        reload_seconds=settings.users_reload_seconds, check_users=from_file,
    )
    if not from_file:
        app.state.authenticator.accounts = AccountCache(app.state.services,
                                                        settings.account_cache_seconds)
    oidc = config_from_settings(settings)  # single sign-on (None: not configured)
    app.state.oidc = OidcClient(oidc, settings.jwt_secret) if oidc else None
    # One SERVER span per request; not also an internal span for each ASGI receive and send
    # (two or three more per request, a tenth of the gateway's CPU in the 2026-11-24 profile).
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider,
                                       excluded_urls="health", exclude_spans=["receive", "send"])

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        title = "Gateway timeout" if exc.status_code == 504 else "Service unavailable"
        return problem(exc.status_code, title, exc.detail)

    @app.exception_handler(ServiceFailure)
    async def _failure(_: Request, exc: ServiceFailure) -> JSONResponse:
        r = dict(exc.reply)
        r.pop("ok", None)
        return problem(int(r.pop("status", 500)), r.pop("title", "Error"), r.pop("detail", ""),
                       r.pop("errors", []), **r)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return problem(422, "Invalid input", "the request has invalid fields", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, "Error", str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    register_routes(app)
    register_account_routes(app)
    register_station_pages(app)
    register_deputy_pages(app)
    register_web(app)  # the staff web application under /app/
    register_api_docs(app)
    register_open311_routes(app)
    # middleware, innermost first: idempotency inside the limits, proxies outermost
    install_idempotency(app, settings, settings.jwt_secret)
    install_citizen_rate_limit(app, settings.citizen_rate_limit)
    install_login_throttle(app, settings.login_failure_limit,
                           settings.login_address_failure_limit)
    install_request_limits(app, max_body_bytes=settings.max_body_bytes,
                           body_timeout_seconds=settings.body_timeout_seconds,
                           trusted_proxies=settings.trusted_proxies,
                           upload_max_bytes=settings.attachment_max_bytes + UPLOAD_FORM_BYTES,
                           upload_paths=(*UPLOAD_PATHS, *IMPORT_UPLOAD_PATHS))
    # outermost: the token's account status is at hand before anything checks the token
    app.add_middleware(AccountFreshness, authenticator=app.state.authenticator)
    declare_problem_responses(app)
    return app


# The documentation pages load nothing from another host, not even ReDoc's attribution logo
# (its bundle names cdn.redoc.ly): the browser is told so (tests/browser/test_api_docs_isolated.py).
DOCS_CSP = {"Content-Security-Policy": "default-src 'self' 'unsafe-inline' data: blob:"}


def register_api_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from assets vendored under web/static (VENDORED.txt):
    nothing is loaded from a CDN, so the pages work on an isolated network."""
    from fastapi.openapi.docs import (get_redoc_html, get_swagger_ui_html,
                                      get_swagger_ui_oauth2_redirect_html)

    static = "/app/static"
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui():  # noqa: ANN202 (an HTMLResponse)
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{static}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,", oauth2_redirect_url=oauth2_redirect,
            # no badge fetched from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None})
        page.headers.update(DOCS_CSP)
        return page

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect():  # noqa: ANN202
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc():  # noqa: ANN202
        page = get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} — ReDoc",
                              redoc_js_url=f"{static}/redoc/redoc.standalone.js",
                              redoc_favicon_url="data:,", with_google_fonts=False)
        page.headers.update(DOCS_CSP)
        return page


def register_routes(app: FastAPI) -> None:
    api = "/api/v1"

    @app.get("/health", tags=["ops"], summary="200 once every service is ready (each "
             "service's detail only with an office token or the metrics token)",
             responses={503: {"description": "some service is not ready: {status: starting, "
                                             "services: {name: {ready, error}}}"}})
    async def health(request: Request) -> JSONResponse:
        detailed = await ops_access(request)
        services: Services = request.app.state.services
        timeout = request.app.state.settings.health_timeout_seconds

        async def one(name: str) -> tuple[str, Any]:
            try:
                return name, await services.send(Health(), service=name, timeout=timeout)
            except (ServiceUnavailable, ServiceFailure) as exc:
                return name, {"ready": False, "error": getattr(exc, "detail", str(exc))}

        results = dict(await asyncio.gather(*(one(s) for s in SERVICES)))
        ready = all(r.get("ready") for r in results.values())
        answer: dict[str, Any] = {"status": "ok" if ready else "starting"}
        if detailed:
            answer["services"] = results
        return JSONResponse(answer, status_code=200 if ready else 503)

    @app.get("/metrics/{service}", tags=["ops"], response_class=PlainTextResponse,
             summary="Prometheus metrics of one service (scrape each service as a target)",
             responses=problem_responses(
                 401, 403, 404, 503, 504, _404="no such service",
                 _401="an office bearer token or the metrics token is needed",
                 _403="the token is neither an office token nor the metrics token"))
    async def metrics(service: str, request: Request) -> PlainTextResponse:
        allowed = await ops_access(request)
        if not allowed:
            raise HTTPException(401 if allowed is None else 403,
                                "an office bearer token or the metrics token is needed",
                                headers={"WWW-Authenticate": "Bearer"} if allowed is None else None)
        if service not in SERVICES:
            raise HTTPException(404, f"no service {service}")
        result = await request.app.state.services.send(Metrics(), service=service)
        return PlainTextResponse(result["text"], media_type="text/plain; version=0.0.4")

    @app.get("/asyncapi.json", tags=["ops"],
             summary="AsyncAPI document of every integration event on the bus")
    async def asyncapi() -> dict[str, Any]:
        from shared.contracts.asyncapi import asyncapi_document

        return await asyncio.to_thread(asyncapi_document)

    @app.post(f"{api}/auth/token", tags=["auth"], summary="OAuth2 password flow → bearer JWT",
              responses=problem_responses(
                  401, 422, 429, _401="wrong username or password",
                  _429="too many failed sign-ins for this user or from this address "
                       "(see Retry-After)"))
    async def token(request: Request,
                    form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
        """``scope`` may name the role to act in (one the user holds; default their first):
        ``scope=deputy``. The answer says every role held and whether the password must be
        changed first (``must_change_password``: only /me and /me/password answer until then)."""
        authenticator: Authenticator = request.app.state.authenticator
        role = next((s for s in form.scopes if s in ROLES), None)
        found = await authenticator.login(form.username, form.password, role)
        if found is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                                headers={"WWW-Authenticate": "Bearer"})
        principal, ver = found
        return {"access_token": authenticator.issue(principal, ver), "token_type": "bearer",
                "role": principal.role, "roles": list(principal.roles or (principal.role,)),
                "must_change_password": principal.must_change_password}

    @app.get(f"{api}/me", tags=["auth"], summary="The signed-in user: username, role acted "
             "in, unit_id or deputy_id, every role held and whether the password must be "
             "changed first", responses=problem_responses(401))
    async def me(principal: Annotated[Principal, Depends(require(password_change_ok=True))],
                 ) -> dict[str, Any]:
        return principal.model_dump(exclude_none=True, exclude={"roles",
                                                                "must_change_password"}) | {
            "roles": list(principal.roles or (principal.role,)),
            "must_change_password": principal.must_change_password}

    async def reference(services: Services, principal: Principal) -> dict[str, Any]:
        return await services.send(Reference(), principal)

    @app.get(f"{api}/categories", tags=["reference"], openapi_extra=sends(Reference), summary="Message and suggestion categories (any signed-in user)",
             responses=SIGNED_IN)
    async def categories(services: ServicesDep, principal: Any_) -> list[dict[str, Any]]:
        return (await reference(services, principal))["categories"]

    @app.get(f"{api}/stations", tags=["reference"], openapi_extra=sends(Reference), summary="Liaison stations (any signed-in user)",
             responses=SIGNED_IN)
    async def stations(services: ServicesDep, principal: Any_) -> list[dict[str, Any]]:
        return (await reference(services, principal))["stations"]

    @app.get(f"{api}/deputies", tags=["reference"], openapi_extra=sends(Reference), summary="Deputies (any signed-in user)",
             responses=SIGNED_IN)
    async def deputies(services: ServicesDep, principal: Any_) -> list[dict[str, Any]]:
        return (await reference(services, principal))["deputies"]

    @app.get(f"{api}/units", tags=["reference"], summary="Handling units (any signed-in user)",
             responses=SIGNED_IN, openapi_extra=sends(Units))
    async def units(services: ServicesDep,
                    principal: admitted(Units)) -> list[dict[str, Any]]:  # type: ignore[valid-type]
        return await services.send(Units(), principal)

    @app.post(f"{api}/suggestions", status_code=201, tags=["suggestions"],
              summary="A deputy submits a suggestion", openapi_extra=sends(SubmitSuggestion))
    async def submit(body: SubmitSuggestionBody, services: ServicesDep,  # type: ignore[valid-type]
                     principal: Submitting) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(SubmitSuggestion, body), principal)

    @app.post(f"{api}/suggestions/{{suggestion_id}}/register", tags=["suggestions"],
              summary="The office registers (立案) a suggestion",
              openapi_extra=sends(RegisterSuggestion))
    async def register(suggestion_id: str, body: RegisterBody,  # type: ignore[valid-type]
                       services: ServicesDep,
                       principal: Registering) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(RegisterSuggestion, body,
                                              suggestion_id=suggestion_id), principal)

    @app.post(f"{api}/suggestions/{{suggestion_id}}/decline", tags=["suggestions"],
              summary="The office declines (不予立案) a suggestion, with the reason",
              openapi_extra=sends(DeclineSuggestion))
    async def decline(suggestion_id: str, body: DeclineBody,  # type: ignore[valid-type]
                      services: ServicesDep,
                      principal: Declining) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(DeclineSuggestion, body,
                                              suggestion_id=suggestion_id), principal)

    # GET /suggestions (paged, with the handling-unit join): routes_intake.py.

    @app.get(f"{api}/suggestions/{{suggestion_id}}", tags=["suggestions"],
             summary="Current state of a suggestion across all services",
             openapi_extra=sends(GetSuggestion))
    async def get_suggestion(suggestion_id: str, services: ServicesDep,
                             principal: StaffReading) -> dict[str, Any]:  # type: ignore[valid-type]
        suggestion = await services.send(request_of(GetSuggestion, suggestion_id=suggestion_id),
                                         principal)
        ref = {"case_id": suggestion_id}
        assignment, tasks, points, supervision = await asyncio.gather(
            _optional(services.send(CaseAssignment(**ref), principal)),
            services.send(ListTasks(**ref), principal),  # every task of the case, a list
            services.send(CasePoints(**ref), principal),
            _optional(services.send(GetCase(**ref), principal)),
        )
        if principal.role == "unit" and not any(t["unit_id"] == principal.unit_id for t in tasks):
            raise HTTPException(404, f"no suggestion {suggestion_id}")
        return {
            **suggestion,
            "assignment_status": assignment["status"] if assignment else None,
            "units": {
                "lead": assignment["lead_unit_id"] if assignment else None,
                "co": assignment["co_unit_ids"] if assignment else [],
            },
            "tasks": tasks,
            "deadlines": {t["unit_id"]: t["deadline"] for t in tasks},
            "reply": supervision["reply"] if supervision else None,
            "rating": supervision["rating"] if supervision else None,
            "supervision": supervision,
            "points_awarded": points,
        }

    @app.post(f"{api}/suggestions/{{suggestion_id}}/assignment", tags=["assignment"],
              summary="The office assigns (交办) a suggestion; without units the routing rule's proposal is used",
              openapi_extra=sends(AssignSuggestion))
    async def assign(suggestion_id: str, services: ServicesDep,
                     principal: admitted(AssignSuggestion),  # type: ignore[valid-type]
                     body: AssignmentBody | None = None) -> dict[str, Any]:
        # A concurrent assignment of the same case gets 409 with the current assignment
        # (``current``); ``deadline`` (a working day, ISO date) sets an earlier lead deadline.
        return await services.send(request_of(AssignSuggestion, body, suggestion_id=suggestion_id),
                                   principal)

    # GET /tasks and GET /tasks/{task_id}: routes_supervision.py.

    # GET /deputies/{deputy_id}/points and the other duty-point routes: routes_points.py.

    register_message_routes(app)
    register_intake_routes(app)
    register_assignment_routes(app)
    register_supervision_routes(app)
    register_points_routes(app)
    register_projects_routes(app)
    register_reports_routes(app)
    register_registry_routes(app)
    register_notification_routes(app)
    register_liaison_routes(app)
    register_follow_up_pages(app)
    register_public_pages(app)
    register_audit_routes(app)
    register_attachment_routes(app)
    register_import_routes(app)


def register_message_routes(app: FastAPI) -> None:
    """Citizen messages (群众意见): posted anonymously at a station, handled by deputies."""
    api = "/api/v1"
    tags = ["citizen messages"]

    @app.post(f"{api}/stations/{{station_id}}/messages", status_code=201, tags=tags,
              summary="A citizen leaves a message at a station (anonymous); keep the follow_up_token",
              responses=problem_responses(404, 422, 429, _404="no such station"),
              openapi_extra=sends(PostMessage))
    async def post_message(station_id: str, body: PostMessageBody,  # type: ignore[valid-type]
                           services: ServicesDep) -> dict[str, Any]:
        return await services.send(request_of(PostMessage, body, station_id=station_id))

    @app.post(f"{api}/messages/{{message_id}}/claim", tags=tags,
              summary="A deputy claims a message (held for the claim time limit)",
              openapi_extra=sends(ClaimMessage))
    async def claim_message(message_id: str, services: ServicesDep,
                            principal: Claiming) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(ClaimMessage, message_id=message_id), principal)

    @app.post(f"{api}/messages/{{message_id}}/release", tags=tags,
              summary="The deputy holding a message gives it back to the pool",
              openapi_extra=sends(GiveUpMessage))
    async def release_message(message_id: str, services: ServicesDep,
                              principal: GivingUp) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(GiveUpMessage, message_id=message_id), principal)

    @app.post(f"{api}/messages/{{message_id}}/answer", tags=tags,
              summary="The deputy holding a message answers it directly",
              openapi_extra=sends(AnswerMessage))
    async def answer_message(message_id: str, body: AnswerBody,  # type: ignore[valid-type]
                             services: ServicesDep,
                             principal: Answering) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(AnswerMessage, body, message_id=message_id),
                                   principal)

    @app.post(f"{api}/messages/{{message_id}}/convert", status_code=201, tags=tags,
              summary="The deputy holding a message turns it into a suggestion",
              openapi_extra=sends(ConvertMessage))
    async def convert_message(message_id: str, services: ServicesDep,
                              principal: Converting,  # type: ignore[valid-type]
                              body: ConvertBody | None = None,  # type: ignore[valid-type]
                              ) -> dict[str, Any]:
        return await services.send(request_of(ConvertMessage, body, message_id=message_id),
                                   principal)

    @app.post(f"{api}/messages/{{message_id}}/forward", tags=tags,
              summary="Forward a message to a handling unit (deputy holding it, or the office)",
              openapi_extra=sends(ForwardMessage))
    async def forward_message(message_id: str, body: ForwardBody,  # type: ignore[valid-type]
                              services: ServicesDep,
                              principal: Forwarding) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(ForwardMessage, body, message_id=message_id),
                                   principal)

    @app.post(f"{api}/messages/{{message_id}}/rating", tags=tags,
              summary="The citizen rates the handling, with the follow-up token",
              responses=problem_responses(403, 404, 409, 429,
                                          _403="the follow-up token does not match"),
              openapi_extra=sends(RateMessage))
    async def rate_message(message_id: str, body: RatingBody,  # type: ignore[valid-type]
                           services: ServicesDep,
                           x_follow_up_token: FollowUpToken = None) -> dict[str, Any]:
        token = x_follow_up_token or body.token
        return await services.send(RateMessage(message_id=message_id, rating=body.rating,
                                               token=token))

    @app.post(f"{api}/messages/{{message_id}}/erasure", tags=tags,
              summary="The office erases the poster's personal data (the history stays)",
              openapi_extra=sends(ErasePersonalData))
    async def erase_personal_data(message_id: str, services: ServicesDep,
                                  principal: Erasing) -> dict[str, Any]:  # type: ignore[valid-type]
        return await services.send(request_of(ErasePersonalData, message_id=message_id),
                                   principal)

    @app.get(f"{api}/messages/{{message_id}}", tags=tags,
             summary="A message (staff; the citizen with the follow-up token)",
             responses=problem_responses(
                 401, 403, 404, 429,
                 _403="the follow-up token does not match, or the role may not read it",
                 _429="too many anonymous reads from this address (see Retry-After)"))
    async def get_message(message_id: str, services: ServicesDep, principal: MaybePrincipal,
                          x_follow_up_token: FollowUpToken = None,
                          purpose: Annotated[str | None, Query(
                              max_length=200,
                              description="why the office opens the contact details "
                                          "(kept in the access log)")] = None,
                          ) -> dict[str, Any]:
        if principal is None and not x_follow_up_token:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "sign in, or send the follow-up token (X-Follow-Up-Token)",
                                headers={"WWW-Authenticate": "Bearer"})
        # The anonymous reader is admitted by the follow-up token (checked by intake), so the
        # route does not name its roles (x-requests): MaybePrincipal.
        return await services.send(GetMessage(message_id=message_id, token=x_follow_up_token,
                                              purpose=purpose), principal)

    # GET /messages (paged, searchable): routes_intake.py.


async def _optional(call: Any) -> Any:
    try:
        return await call
    except ServiceFailure as exc:
        if exc.reply.get("status") == 404:
            return None
        raise

"""The event catalogue (``docs/events.md``), generated from the registered contracts.

``python -m shared.contracts.catalogue > docs/events.md`` regenerates it; the conventions text
lives here so that the page is one generated file. Field types are given as JSON types, since
that is what travels on the wire.
"""

from __future__ import annotations

import sys
import types
from datetime import date, datetime
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shared.contracts import ActorRef, IntegrationEvent, registered_contracts
from shared.settings import ServiceSettings
from shared.streams import (
    DLQ_STREAM,
    DUPLICATE_WINDOW_SECONDS,
    dlq_subject,
    durable_name,
    stream_name,
)

_SETTINGS_DEFAULTS = ServiceSettings.model_fields
MAX_ATTEMPTS = _SETTINGS_DEFAULTS["max_delivery_attempts"].default
BACKOFF_SECONDS = _SETTINGS_DEFAULTS["retry_backoff_seconds"].default


# --- rendering helpers ----------------------------------------------------------------------

def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def json_type(annotation: Any) -> str:
    """A short JSON-type description of a field annotation."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        args = get_args(annotation)
        rendered = [json_type(a) for a in args if a is not type(None)]
        text = " or ".join(rendered)
        return f"{text} or null" if type(None) in args else text
    if origin in (list, tuple, set, frozenset):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return f"array of {json_type(args[0])}" if args else "array"
    if origin is dict:
        return "object"
    if annotation is type(None):
        return "null"
    if annotation is str:
        return "string"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if annotation is datetime:
        return "string (date-time, ISO 8601)"
    if annotation is date:
        return "string (date, YYYY-MM-DD)"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"object ({annotation.__name__})"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "optional"
    else:
        value = field.default
    if value is None:
        shown = "null"
    elif isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, (list, tuple)) and not value:
        shown = "[]"
    else:
        shown = repr(value)
    return f"optional (default `{shown}`)"


def _constraints(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return f" ({', '.join(parts)})" if parts else ""


# Notes shown where a contract field has no description of its own, keyed by field name or by
# (contract class name, field name). Prefer moving them into the contracts' Field(description=).
FIELD_NOTES: dict[str | tuple[str, str], str] = {
    "source_service": "the producing service; with `source_notification_id`, the key consumers track",
    "source_notification_id": "position of the domain event in the producer's notification log",
    ("ActorRef", "username"): "user name, or `system` for a step no person took",
    ("ActorRef", "role"): "`office`, `unit`, `deputy`, `leader`, `citizen` or `system`",
    ("ActorRef", "unit_id"): "the handling unit, for role `unit`",
    ("ActorRef", "deputy_id"): "the deputy, for role `deputy`",
    "title": "the suggestion's title",
    "category": "category code from config/categories.yaml, e.g. `safety_hazard` (安全隐患)",
    "urgency": "urgency colour (红黄蓝)",
    "lead_deputy_id": "the lead deputy (领衔代表)",
    "co_signer_ids": "co-signing deputies (附议代表)",
    "station_id": "liaison station (代表联络站) the suggestion came from",
    "district": "district of that station (routing rules may use it)",
    "reason": "why it was not registered (不予立案)",
    "lead_unit_id": "the lead unit (主办单位)",
    "co_unit_ids": "the co-handling units (协办单位)",
    "task_ids": "one task per unit, the lead unit's first",
    "routing_rule_id": "the routing rule (config/routing.yaml) that proposed the units, if any",
    "automatic": "true when a routing rule assigned it at registration without the office",
    "task_id": "the task's id, made by assignment; supervision tracks the task under the same id",
    "unit_id": "the handling unit (承办单位)",
    "role": "`lead` (主办) or `co` (协办)",
    "assigned_at": "when the task was assigned (交办)",
    "deadline": "reply due date (办理时限), China time; three months after assignment for a suggestion",
    ("TaskAssignedV1", "number"): "the case's registration number, if it has one",
    "deputy_id": "the deputy whose ledger it is",
    "year": "the ledger's year",
    "points": "points added to the ledger",
    "cause_kind": "what earned them, e.g. `suggestion_registered`",
    "cause_ref": "what the cause refers to, e.g. the case id",
    "rule_version": "version of the scoring rules applied (config/points.yaml), e.g. `2026.1`",
}


def _note(owner: str, name: str, field: FieldInfo) -> str:
    if field.description:
        return field.description
    return FIELD_NOTES.get((owner, name)) or FIELD_NOTES.get(name, "")


def fields_table(owner: type[BaseModel], fields: dict[str, FieldInfo]) -> list[str]:
    lines = ["| field | type | presence | description |", "|---|---|---|---|"]
    for name, field in fields.items():
        lines.append(
            f"| `{name}` | {_cell(json_type(field.annotation) + _constraints(field))} "
            f"| {_default(field)} | {_cell(_note(owner.__name__, name, field))} |"
        )
    return lines


def payload_fields(model: type[IntegrationEvent]) -> dict[str, FieldInfo]:
    """The fields an event adds to the envelope."""
    envelope = IntegrationEvent.model_fields
    return {n: f for n, f in model.model_fields.items() if n not in envelope}


def _anchor(subject: str) -> str:
    return subject.replace(".", "")


def _contracts() -> list[tuple[str, type[IntegrationEvent]]]:
    return sorted(registered_contracts().items(), key=lambda kv: (kv[1].producer, kv[0]))


# --- the page -------------------------------------------------------------------------------

INTRO = """\
# Integration events

<!-- Generated by `python -m shared.contracts.catalogue > docs/events.md` from the contracts
in shared/contracts/. Do not edit by hand: change the contracts (or the text in
shared/contracts/catalogue.py) and regenerate. -->

The services (intake, assignment, supervision, points) share no database: each keeps its own
event-sourced store and tells the others what happened through the integration events listed
here, over NATS JetStream. A contract is a pydantic model in `shared/contracts/`; the
machine-readable form of this page is [`asyncapi.json`](asyncapi.json) (AsyncAPI 3.0, generated
by FastStream: `make asyncapi`, or `asyncapi_document()` in `shared/contracts/asyncapi.py`).
Domain terms and their Chinese originals are in the [glossary](glossary.md).
"""

CONVENTIONS = f"""\
## Conventions

### Subjects and streams

- Every event has one fixed subject `duty.<producer>.<name>.v<N>`: the producing service, the
  event's name in snake case (past tense: something that happened), and its version.
  `IntegrationEvent.subject()` builds it from the class variables `producer`, `name` and
  `version`; no two contracts may claim the same subject.
- Each producing service has one stream, `DUTY_<PRODUCER>`, holding `duty.<producer>.>`
  (file storage, duplicate window {DUPLICATE_WINDOW_SECONDS:g} s). Only that service publishes
  on it.
- Each consuming service reads a producer's whole stream through one durable pull consumer,
  `<consumer>--<producer>` (explicit acknowledgement, deliver policy *all*), and hands each
  event to the handler for its contract class.
- Dead letters go to stream `{DLQ_STREAM}`, subject `duty.dlq.<consumer>`
  (see [Dead letters](#dead-letters)).
- The payload is the event as JSON (`model_dump_json`); times are ISO 8601 with offset.

### The envelope

Every event carries these fields before its own:

{{envelope}}

`actor` is an object:

{{actor}}

- `event_id` is `<producer>:<notification id>`: the position of the domain event in the
  producer's own notification log. It is unique per producer and is also the message's
  `Nats-Msg-Id`.
- `case_id` is the suggestion (or citizen message) the event is about; every service keys its
  records for a case by it, so a case's history can be gathered across services.
- `causation_id` is the `event_id` of the integration event whose processing caused this one
  (null when a person's command caused it); with `case_id` it links a chain of reactions
  across services.

### Versioning

- **A published version is never changed in place.** Its subject, fields, types,
  presence (required or optional), allowed values and meaning are frozen. Only documentation
  (`summary`, field descriptions) and the `consumers` list may be edited.
- **A new version is a new class and a new subject**: `SuggestionRegisteredV2` with
  `version = 2` publishes on `duty.intake.suggestion_registered.v2`, **beside** v1, for as
  long as any service still lists v1 among its `consumers`. This holds for every change a
  consumer could notice, including a new field, a new allowed value of an enumeration, or a
  changed meaning.
- Consumers move to the new version one at a time (each handles exactly one version of an
  event) and the `consumers` lists are updated as they do. When no one consumes the old
  version any more, the producer stops publishing it.
- The old class stays registered for as long as a stream may still hold its messages:
  consumers start from the beginning of a stream, and a subject with no registered contract
  is parked as malformed.
- Deployment order: a new contract module reaches every service that reads the producer's
  stream **before** the producer publishes the new subject (a consumer receives the whole
  `duty.<producer>.>` and parks subjects it has no contract for).
- The outbox relay publishes every version a translator returns for one notification. Both
  carry the same `event_id`; the `Nats-Msg-Id` is `event_id` for v1 and `<event_id>.v<N>`
  for later versions, so the stream keeps both. A consumer tracks the notification, not the
  subject: subscribed to both versions it processes the fact once.
- First use: the v2 of every event assignment and supervision publish about a case (all but
  `leadership_designated` itself) adds `leadership`, the case's leadership designation
  (领导领办 / 重点督办) when the event was recorded, or null (`shared/contracts/leadership.py`).
  The v1 subjects stay for their subscribers. Intake's and points' events are not flagged:
  they do not follow the designation.

### Tolerant readers

- Consumers ignore fields they do not know (every contract has `extra="ignore"`): a reader is
  never broken by a field it does not use.
- Events on a stream that a consumer has no handler for are acknowledged and skipped.
- Consumers read only the fields they need, treat optional fields as possibly null, do not
  rely on field order and do not validate more strictly than the contract does.

### De-duplication and exactly-once processing

1. **Publishing** (outbox): a command records domain events only. Each service's outbox relay
   reads its notification log from the last published position, translates each domain event
   into its integration events (one per contract version) and publishes each with
   `Nats-Msg-Id` = `event_id` (`<event_id>.v<N>` after v1); the
   new position is recorded after every publish of the batch is acknowledged. A crash in
   between re-publishes the batch, and JetStream drops the repeats within its
   {DUPLICATE_WINDOW_SECONDS:g} s duplicate window.
2. **Processing** (tracking): the consumer decodes the message against its contract, checks
   whether the pair (`source_service`, `source_notification_id`) is already tracked (then it
   only acknowledges), runs the handler, and records the handler's new domain events
   **together with** the tracking row in one transaction. It acknowledges after that commit.
   Messages that arrive while earlier ones are being recorded are recorded together: their
   handlers run in order in one unit of work and all their events and tracking rows go into
   one transaction (each event keeps its own message's actor, causation and trace); if any
   of them fails, the batch is dropped and each message is processed on its own.
   A redelivery, a replay past the duplicate window, or a replica racing it is therefore
   processed once.
3. **Failures**: a message that does not decode, or that a handler rejects as permanently
   invalid, is parked on the dead-letter subject at once. Any other error is retried with
   exponential back-off (`nak` with delay {BACKOFF_SECONDS:g} s × 2^(attempt−1), at most 30 s)
   up to `MAX_DELIVERY_ATTEMPTS` ({MAX_ATTEMPTS} by default) deliveries, then parked; the
   consumer goes on with the next message. The server-side `max_deliver` is two more, as a
   safety net for a process that dies mid-handling.

### Trace context

Messages carry the W3C `traceparent` (and `tracestate`) headers. The relay publishes each event
inside the trace of the command that recorded it, so one trace follows a request through every
service it reaches.
"""

ADDING = """\
## Adding or changing an event

1. Add a class to the producer's module in `shared/contracts/` (a subclass of its `_<Producer>`
   base) with `name`, `version`, `summary` and `consumers`, and describe its fields with
   `Field(description=...)`. A change to a published event is a new class `...V<N+1>`.
2. Map the domain event to it in the producer's `translate` (`services/<producer>/bus.py`).
3. Register the consumer's handler with `runtime.consume("<producer>", {Contract: handler})`
   and add the consumer to the contract's `consumers`.
4. Regenerate the documents: `make asyncapi` and
   `python -m shared.contracts.catalogue > docs/events.md`.
"""

DEAD_LETTERS = f"""\
## Dead letters

A message that a consumer cannot process is published to stream `{DLQ_STREAM}` on subject
`duty.dlq.<consumer service>` and acknowledged on its own stream. The body is the original
message's bytes, unchanged; the headers say where it came from and why:

| header | value |
|---|---|
| `Nats-Msg-Id` | `dlq:<consumer>:<original stream>:<original stream sequence>` (parking twice is de-duplicated) |
| `Duty-Original-Subject` | the subject it came on |
| `Duty-Original-Stream` | the stream it came from |
| `Duty-Original-Sequence` | its sequence number in that stream |
| `Duty-Consumer` | the service that parked it |
| `Duty-Attempts` | deliveries tried before it was parked |
| `Duty-Error` | `malformed: …` (did not decode against its contract), `rejected: …` (the handler refused it for good) or `failed after N attempts: …`; one line, at most 2000 characters |
| `Duty-Traceback` | the end of the handler's traceback, one line, at most 4000 characters (only after repeated failures) |

To replay a fixed message, republish its body on `Duty-Original-Subject`: the consumer's
tracking makes a replay of an event it already processed harmless.

{{dlq_subjects}}
"""


def _envelope_section() -> tuple[str, str]:
    envelope = "\n".join(fields_table(IntegrationEvent, dict(IntegrationEvent.model_fields)))
    actor = "\n".join(fields_table(ActorRef, dict(ActorRef.model_fields)))
    return envelope, actor


def _summary_table(contracts: list[tuple[str, type[IntegrationEvent]]]) -> list[str]:
    lines = [
        "| subject | version | producer | consumers | summary | payload fields |",
        "|---|---|---|---|---|---|",
    ]
    for subject, model in contracts:
        fields = ", ".join(
            f"`{n}`" + ("" if f.is_required() else "?") for n, f in payload_fields(model).items()
        )
        lines.append(
            f"| [`{subject}`](#{_anchor(subject)}) | {model.version} | {model.producer} "
            f"| {', '.join(model.consumers) or '—'} | {_cell(model.summary)} | {fields or '—'} |"
        )
    return lines


def _event_section(subject: str, model: type[IntegrationEvent]) -> list[str]:
    consumers = ", ".join(
        f"{c} (durable `{durable_name(c, model.producer)}`)" for c in model.consumers
    ) or "none yet"
    lines = [
        f"### `{subject}`",
        "",
        model.summary,
        "",
        f"- contract: `{model.__name__}` in `{model.__module__}`",
        f"- producer: {model.producer}, stream `{stream_name(model.producer)}`",
        f"- consumers: {consumers}",
        *([f"- `case_id` is `{model.case_id_form}` (not a case's UUID)"]
          if model.case_id_form else []),
        "",
    ]
    fields = payload_fields(model)
    if fields:
        lines += ["Payload, after the envelope:", "", *fields_table(model, fields)]
    else:
        lines.append("No payload fields beyond the envelope.")
    return lines + [""]


def _services_table(contracts: list[tuple[str, type[IntegrationEvent]]]) -> list[str]:
    services = sorted(
        {m.producer for _, m in contracts} | {c for _, m in contracts for c in m.consumers}
    )
    lines = ["| service | publishes | consumes |", "|---|---|---|"]
    for service in services:
        published = [f"`{s}`" for s, m in contracts if m.producer == service]
        consumed = [f"`{s}`" for s, m in contracts if service in m.consumers]
        lines.append(
            f"| {service} | {', '.join(published) or '—'} | {', '.join(consumed) or '—'} |"
        )
    return lines


def catalogue_markdown() -> str:
    contracts = _contracts()
    envelope, actor = _envelope_section()
    consumer_services = sorted({c for _, m in contracts for c in m.consumers})
    dlq = "Dead-letter subjects in use: " + (
        ", ".join(f"`{dlq_subject(c)}`" for c in consumer_services) or "none"
    ) + "."

    parts = [
        INTRO,
        CONVENTIONS.replace("{envelope}", envelope).replace("{actor}", actor),
        "## Events\n",
        f"{len(contracts)} contracts are registered. In the last column `?` marks an optional "
        "field; every event also carries the envelope.\n",
        "\n".join(_summary_table(contracts)) + "\n",
        "## Who publishes and consumes what\n",
        "\n".join(_services_table(contracts)) + "\n",
        "## Event details\n",
        "Field descriptions come from the contracts; where a contract gives none, the "
        "catalogue's own note is shown.\n",
    ]
    for subject, model in contracts:
        parts.append("\n".join(_event_section(subject, model)))
    parts.append(DEAD_LETTERS.replace("{dlq_subjects}", dlq))
    parts.append(ADDING)
    text = "\n".join(parts)
    return text.rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.buffer.write(catalogue_markdown().encode("utf-8"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

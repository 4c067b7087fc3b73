"""The registry's aggregate (名册 / 基础数据): one ``ReferenceRecord`` per reference record.

A record is a deputy, a handling unit, a liaison station (with its grids), a term (届), a
category (key its ``code``) or one year's working-day calendar (key the year as text), in the
shape of its configuration file (config/deputies.yaml, units.yaml, stations.yaml, terms.yaml,
categories.yaml; a calendar is one year of holidays.yaml: ``{year, holidays, makeup_workdays,
source, provisional}``). Its id is ``uuid5(NAMESPACE, f"{kind}:{key}")``, so "create or change the record
with this stable key" is decided by the store's optimistic concurrency: two creations of one
key at once are the same aggregate's version 1, and the second fails.

Events (who: ``actor``, the username, beside the event's metadata; when: ``at``):

- ``Created(kind, key, record, actor, at)``: the whole record;
- ``Changed(before, after, actor, at)``: the fields that differ, their values before and after
  (a change that changes nothing is no event);
- ``Closed(reason, term, actor, at)``: the record is no longer active (a deputy not re-elected
  at a term change: reason ``term_ended``, the term that ended); it stays known;
- ``Reopened(reason, actor, at)``: active again.

``normalize`` checks a record against its kind's fields and gives it its canonical shape
(every field of the kind present, defaults filled), so two equal records compare equal; what it
refuses is an ``InvalidRecord`` with one message per field. The domain is pure: no store, no
clock, no configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.registry.errors import InvalidRecord

KINDS = ("deputy", "unit", "station", "term", "category", "calendar")
KIND_ZH = {"deputy": "代表", "unit": "承办单位", "station": "联络站", "term": "届次",
           "category": "类别", "calendar": "工作日历"}
# the field that holds a record's key (``id`` unless named here)
KEY_FIELD = {"category": "code", "calendar": "year"}
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
NAMESPACE = UUID("6f3c1d5e-29a4-5b7e-9c1f-7e0d2b4a8c31")  # fixed: ids never change
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
LEVELS = {"national": "全国", "provincial": "省", "municipal": "市", "district": "县",
          "township": "乡"}
TEXT_MAX = 200


def record_id(kind: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"{kind}:{key}")


# --- fields ---------------------------------------------------------------------------------

Check = Callable[[Any], Any]  # returns the canonical value or raises ValueError(message)


def _text(required: bool = False, max_length: int = TEXT_MAX) -> Check:
    def check(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ValueError("必填")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("应为文本")
        text = str(value).strip()
        if len(text) > max_length:
            raise ValueError(f"不能超过 {max_length} 个字符")
        return text
    return check


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,，;；\s]+", value) if v]
    if not isinstance(value, (list, tuple)):
        raise ValueError("应为列表")
    items = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
            raise ValueError("列表中的每一项应为非空文本")
        if len(str(item).strip()) > TEXT_MAX:
            raise ValueError(f"列表中的每一项不能超过 {TEXT_MAX} 个字符")
        items.append(str(item).strip())
    return list(dict.fromkeys(items))


def _objects(value: Any) -> list[dict[str, Any]]:
    """Kept as they are (a deputy's voters and enterprises): a list of mappings."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, dict) for v in value):
        raise ValueError("应为对象列表")
    return [dict(v) for v in value]


def _level(value: Any) -> str:
    if value not in LEVELS:
        raise ValueError("应为 " + "、".join(LEVELS) + " 之一")
    return str(value)


def _number(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("应为正整数")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError("应为正整数") from None
    if number < 1 or number > 1000:
        raise ValueError("应为 1 到 1000 之间的整数")
    return number


def _date(required: bool) -> Check:
    def check(value: Any) -> str | None:
        if value is None or value == "":
            if required:
                raise ValueError("必填")
            return None
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValueError("应为日期 YYYY-MM-DD") from None
    return check


def _code(value: Any) -> str:
    if value is None or value == "":
        raise ValueError("必填")
    if not isinstance(value, str) or not CODE_PATTERN.match(value.strip()):
        raise ValueError("代码应为 2 到 64 个小写字母、数字或下划线，以字母开头")
    return value.strip()


def _year(value: Any) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("应为年份（四位数字）")
    try:
        year = int(str(value).strip())
    except ValueError:
        raise ValueError("应为年份（四位数字）") from None
    if not 1900 <= year <= 9999 or str(year) != str(value).strip():
        raise ValueError("应为年份（四位数字）")
    return year


def _dates(value: Any) -> list[str]:
    """A list of ISO dates (also lines or commas of text), sorted and without repeats."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,，;；\s]+", value) if v]
    if not isinstance(value, (list, tuple)):
        raise ValueError("应为日期列表")
    days = set()
    for item in value:
        if isinstance(item, datetime):
            raise ValueError(f"{item} 应为日期 YYYY-MM-DD")
        if isinstance(item, date):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(str(item).strip()))
        except ValueError:
            raise ValueError(f"{item} 不是日期 YYYY-MM-DD") from None
    return [d.isoformat() for d in sorted(days)]


def _flag(value: Any) -> bool:
    if value in (None, "", False, "false", "0", 0):
        return False
    if value in (True, "true", "1", 1, "on"):
        return True
    raise ValueError("应为 true 或 false")


# every field of each kind, in the order of its configuration file
FIELDS: dict[str, dict[str, Check]] = {
    "deputy": {"id": _text(True, 64), "name": _text(True), "level": _level,
               "level_zh": _text(), "group": _text(), "station": _text(False, 64),
               "phone": _text(False, 40), "constituency": _text(), "delegation": _text(),
               "terms": _texts, "voters": _objects, "enterprises": _objects},
    "unit": {"id": _text(True, 64), "name": _text(True), "parent": _text(),
             "categories": _texts},
    "station": {"id": _text(True, 64), "name": _text(True), "district": _text(),
                "grids": _texts, "deputies": _texts},
    "term": {"id": _text(True, 64), "name": _text(True), "number": _number,
             "start": _date(True), "end": _date(False)},
    "category": {"code": _code, "name_zh": _text(True, 40), "name_en": _text(False, 80)},
    "calendar": {"year": _year, "source": _text(False, 300), "holidays": _dates,
                 "makeup_workdays": _dates, "provisional": _flag},
}


def key_of(kind: str, record: dict[str, Any]) -> str:
    """The key a (canonical) record is stored under."""
    return str(record[KEY_FIELD.get(kind, "id")])


def _calendar_errors(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A year's dates lie in it; make-up working days are weekends; no day is both."""
    errors: list[dict[str, Any]] = []
    year = record["year"]
    for name in ("holidays", "makeup_workdays"):
        outside = [d for d in record[name] if not d.startswith(f"{year}-")]
        if outside:
            errors.append({"field": name, "msg": f"{'、'.join(outside)} 不在 {year} 年"})
    weekdays = [d for d in record["makeup_workdays"] if date.fromisoformat(d).weekday() < 5]
    if weekdays:
        errors.append({"field": "makeup_workdays",
                       "msg": f"{'、'.join(weekdays)} 不是周六或周日：调休上班日只能是周末"})
    both = sorted(set(record["holidays"]) & set(record["makeup_workdays"]))
    if both:
        errors.append({"field": "makeup_workdays",
                       "msg": f"{'、'.join(both)} 不能既是节假日又是调休上班日"})
    return errors


def check_key(kind: str, key: Any) -> str:
    if kind not in KINDS:
        raise InvalidRecord([{"field": "kind", "msg": "应为 " + "、".join(KINDS) + " 之一"}])
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidRecord([{"field": "id", "msg": "编号应为 1 到 64 个字母、数字或 . _ : -，"
                                                    "以字母或数字开头"}])
    return key


def normalize(kind: str, key: str | None, record: dict[str, Any]) -> dict[str, Any]:
    """The record's canonical shape, or InvalidRecord naming each wrong field. ``key``: the
    key it is stored under (its ``id`` must be the same; None: the record's own id)."""
    if not isinstance(record, dict):
        raise InvalidRecord([{"field": "record", "msg": "应为对象"}])
    if kind not in FIELDS:
        check_key(kind, key)
    fields = FIELDS[kind]
    key_field = KEY_FIELD.get(kind, "id")
    record = dict(record)
    if key is not None and record.get(key_field) in (None, ""):
        record[key_field] = key
    errors = [{"field": name, "msg": "未知字段"} for name in record if name not in fields]
    result: dict[str, Any] = {}
    for name, check in fields.items():
        try:
            result[name] = check(record.get(name))
        except ValueError as exc:
            errors.append({"field": name, "msg": str(exc)})
    if not errors:
        if key is not None and str(result[key_field]) != key:
            errors.append({"field": key_field, "msg": f"应与记录编号 {key} 相同"})
        elif not KEY_PATTERN.match(str(result[key_field])):
            errors.append({"field": key_field, "msg": "编号应为 1 到 64 个字母、数字或 . _ : -，"
                                                      "以字母或数字开头"})
    if not errors and kind == "calendar":
        errors += _calendar_errors(result)
    if not errors and kind == "deputy" and not result["level_zh"]:
        result["level_zh"] = LEVELS[result["level"]]
    if not errors and kind == "term" and result["end"] and result["end"] < result["start"]:
        errors.append({"field": "end", "msg": "结束日期不能早于开始日期"})
    if errors:
        raise InvalidRecord(errors)
    return result


def differences(before: dict[str, Any], after: dict[str, Any],
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that differ: their values before and after."""
    changed = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


# --- the aggregate ----------------------------------------------------------------------------

class ReferenceRecord(Aggregate):
    @staticmethod
    def create_id(kind: str, key: str) -> UUID:
        return record_id(kind, key)

    @classmethod
    def create(cls, kind: str, record: dict[str, Any], actor: str, at: datetime,
               key: str | None = None) -> ReferenceRecord:
        """A new record (checked and made canonical)."""
        canonical = normalize(kind, key, record)
        return cls(kind=kind, key=key_of(kind, canonical), record=canonical, actor=actor, at=at)

    @event("Created")
    def __init__(self, kind: str, key: str, record: dict[str, Any], actor: str,
                 at: datetime) -> None:
        self.kind = kind
        self.key = key
        self.record = dict(record)
        self.active = True
        self.closed_reason: str | None = None
        self.closed_term: str | None = None
        self.created_at = at
        self.changed_at = at

    def change(self, record: dict[str, Any], actor: str, at: datetime) -> bool:
        """Make the record this one (checked); False when nothing differs (no event)."""
        before, after = differences(self.record, normalize(self.kind, self.key, record))
        if not after:
            return False
        self._changed(before=before, after=after, actor=actor, at=at)
        return True

    def change_fields(self, fields: dict[str, Any], actor: str, at: datetime) -> bool:
        return self.change({**self.record, **fields}, actor, at)

    @event("Changed")
    def _changed(self, before: dict[str, Any], after: dict[str, Any], actor: str,
                 at: datetime) -> None:
        self.record = {**self.record, **after}
        self.changed_at = at

    def close(self, reason: str, term: str | None, actor: str, at: datetime) -> bool:
        """No longer active (kept: cases and ledgers refer to it); False when already closed."""
        if not self.active:
            return False
        self._closed(reason=reason, term=term, actor=actor, at=at)
        return True

    @event("Closed")
    def _closed(self, reason: str, term: str | None, actor: str, at: datetime) -> None:
        self.active = False
        self.closed_reason = reason
        self.closed_term = term
        self.changed_at = at

    def reopen(self, reason: str, actor: str, at: datetime) -> bool:
        if self.active:
            return False
        self._reopened(reason=reason, actor=actor, at=at)
        return True

    @event("Reopened")
    def _reopened(self, reason: str, actor: str, at: datetime) -> None:
        self.active = True
        self.closed_reason = None
        self.closed_term = None
        self.changed_at = at

    def view(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "record": dict(self.record),
                "active": self.active, "closed_reason": self.closed_reason,
                "closed_term": self.closed_term, "version": self.version,
                "created_at": self.created_at.isoformat(),
                "changed_at": self.changed_at.isoformat()}


# What each event says in a record's history (Chinese, for the office's page).
EVENT_ZH = {"Created": "新建", "Changed": "修改", "Closed": "停用", "Reopened": "恢复"}
REASON_ZH = {"term_ended": "届满未连任", "closed_by_office": "办公室停用",
             "reelected": "换届连任", "reopened_by_office": "办公室恢复"}
FIELD_ZH = {"id": "编号", "name": "名称", "level": "层级", "level_zh": "层级（中文）",
            "group": "代表小组", "station": "联络站", "phone": "电话", "constituency": "选区",
            "delegation": "代表团", "terms": "届次", "voters": "联系选民",
            "enterprises": "联系企业", "parent": "上级单位", "categories": "办理类别",
            "district": "区县", "grids": "网格", "deputies": "代表", "number": "届数",
            "start": "开始日期", "end": "结束日期", "code": "代码", "name_zh": "中文名称",
            "name_en": "英文名称", "year": "年份", "source": "依据",
            "holidays": "放假日期", "makeup_workdays": "调休上班日期",
            "provisional": "暂定（未见通知）"}

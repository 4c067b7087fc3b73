"""Reply templates (答复模板) as supervision's own data (issue 29, point 1).

A reply template is the text a handling unit starts its reply (答复) from, per category and
result class (A solved, B being solved, C explained); ``default`` applies to every category
without its own. The office changes them; every change is an event of ONE aggregate,
``ReplyTemplateBook`` (a fixed id: one book per system), because

- the templates are few (categories x 3) and are always read together: the ``ReplyTemplate``
  query, the list page and its fallback to ``default`` read one aggregate, no read model;
- seeding is one event: the configuration's templates (config/supervision.yaml
  ``reply_templates``) are recorded as the book's creation by ``system`` when the log has no
  book, and two replicas starting together create the same version 1, so the second's save
  fails on the store's optimistic concurrency and it reads the first's;
- a change made meanwhile by another office clerk is a conflict of the book's version (the
  application retries: edits are rare, and each one is checked again on the book it lands on).

Events (who: ``actor``; when: ``at``):

- ``Seeded(templates, actor, at)``: the book's creation with the configuration's templates;
- ``TemplateSet(category, result_class, before, after, actor, at)``: a template created
  (``before`` None) or changed (a change to the same text is no event);
- ``TemplateRemoved(category, result_class, before, actor, at)``: a category's template
  removed (the category falls back to ``default``; a ``default`` template is never removed).

``check_template`` refuses a template field by field (``InvalidTemplate``): a known category or
``default``, class A/B/C, a text that is not empty, at most ``TEXT_MAX`` characters, whose
braces name only ``VARIABLES``. The module is pure: no store, no clock, no configuration.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.supervision.errors import RuleViolation

BOOK_ID = uuid5(NAMESPACE_URL, "duty:supervision:reply-template-book")
DEFAULT = "default"
CLASSES = ("A", "B", "C")
CLASS_ZH = {"A": "A类（已解决或采纳）", "B": "B类（正在解决或列入计划）",
            "C": "C类（留作参考）"}
TEXT_MAX = 2000
CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The variables a template may hold, and what fills them when a unit replies.
VARIABLES = {
    "title": "建议或留言的标题",
    "number": "建议编号",
    "category": "类别名称",
    "unit_name": "承办单位名称",
    "commitment_date": "承诺完成日期（B类）",
    "details": "具体情况（承办人填写）",
    "reason": "原因（承办人填写）",
}
_BRACED = re.compile(r"\{([^{}]*)\}")


class InvalidTemplate(ValueError):
    """A template refused field by field (422): ``errors`` ``[{"field", "msg"}]``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e['field']}: {e['msg']}" for e in self.errors))


def check_key(category: Any, result_class: Any, categories: set[str] | frozenset[str],
              ) -> list[dict[str, str]]:
    """What is wrong with a template's key: the category (a known one or ``default``) and
    the result class."""
    errors = []
    if not isinstance(category, str) or not (category == DEFAULT or category in categories):
        errors.append({"field": "category", "msg": "应为已有的类别或 default（所有类别通用）"})
    if result_class not in CLASSES:
        errors.append({"field": "result_class", "msg": "应为 A、B、C 之一"})
    return errors


def check_text(text: Any) -> tuple[str | None, list[dict[str, str]]]:
    """The text (stripped) or what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        return None, [{"field": "text", "msg": "模板内容不能为空"}]
    text = text.strip()
    if len(text) > TEXT_MAX:
        return None, [{"field": "text", "msg": f"模板内容不能超过 {TEXT_MAX} 个字符"}]
    unknown = [name for name in _BRACED.findall(text) if name not in VARIABLES]
    if unknown:
        return None, [{"field": "text", "msg": "未知的变量 "
                       + "、".join("{" + n + "}" for n in dict.fromkeys(unknown))
                       + "；可用变量：" + "、".join("{" + n + "}" for n in VARIABLES)}]
    if "{" in _BRACED.sub("", text) or "}" in _BRACED.sub("", text):
        return None, [{"field": "text", "msg": "花括号不成对：变量应写作 {变量名}"}]
    return text, []


def check_template(category: Any, result_class: Any, text: Any,
                   categories: set[str] | frozenset[str]) -> str:
    """The template's canonical text, or InvalidTemplate naming each wrong field."""
    errors = check_key(category, result_class, categories)
    canonical, text_errors = check_text(text)
    errors += text_errors
    if errors:
        raise InvalidTemplate(errors)
    assert canonical is not None
    return canonical


def fill(text: str, values: dict[str, str]) -> str:
    """The text with the variables ``values`` knows filled; the others left as they are."""
    return _BRACED.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def variables_in(text: str) -> list[str]:
    return list(dict.fromkeys(n for n in _BRACED.findall(text) if n in VARIABLES))


class ReplyTemplateBook(Aggregate):
    """Every reply template of the system: ``templates[category][result_class] = text``,
    with who changed each last and when (``changed``)."""

    @staticmethod
    def create_id() -> UUID:
        return BOOK_ID

    @classmethod
    def seed(cls, templates: dict[str, dict[str, str]], actor: str, at: datetime,
             ) -> ReplyTemplateBook:
        """The book with the configuration's templates (checked for their text and class
        only: the categories are those the configuration names)."""
        clean: dict[str, dict[str, str]] = {}
        errors = []
        for category, by_class in (templates or {}).items():
            for result_class, text in (by_class or {}).items():
                found = check_key(category, result_class, {category})
                canonical, text_errors = check_text(text)
                errors += [{**e, "field": f"{category}.{result_class}.{e['field']}"}
                           for e in found + text_errors]
                if canonical is not None and not found:
                    clean.setdefault(category, {})[result_class] = canonical
        if errors:
            raise InvalidTemplate(errors)
        return cls(templates=clean, actor=actor, at=at)

    class Seeded(Aggregate.Created):
        templates: dict[str, dict[str, str]]
        actor: str
        at: datetime

    @event(Seeded)
    def __init__(self, templates: dict[str, dict[str, str]], actor: str, at: datetime) -> None:
        self.templates = {c: dict(t) for c, t in templates.items()}
        self.changed = {f"{c}:{k}": {"actor": actor, "at": at}
                        for c, t in templates.items() for k in t}

    # --- reading ------------------------------------------------------------------------------

    def text_of(self, category: str, result_class: str) -> str | None:
        return self.templates.get(category, {}).get(result_class)

    def chosen(self, category: str | None, result_class: str) -> tuple[str, str]:
        """The template a reply in this category starts from: the category's own, else the
        default. (source, text); text "" when neither exists."""
        own = self.text_of(category, result_class) if category else None
        if own is not None:
            return str(category), own
        return DEFAULT, self.text_of(DEFAULT, result_class) or ""

    def rows(self) -> list[dict[str, Any]]:
        return [self.row(c, k) for c in self.templates for k in self.templates[c]]

    def row(self, category: str, result_class: str) -> dict[str, Any]:
        text = self.templates[category][result_class]
        changed = self.changed.get(f"{category}:{result_class}", {})
        at = changed.get("at")
        return {"category": category, "result_class": result_class, "text": text,
                "variables": variables_in(text), "changed_by": changed.get("actor"),
                "changed_at": at.isoformat() if at else None}

    # --- changes ------------------------------------------------------------------------------

    def set_template(self, category: str, result_class: str, text: str, actor: str,
                     at: datetime) -> bool:
        """Make this the template (checked by the caller: ``check_template``); False when it
        is already the text (no event)."""
        before = self.text_of(category, result_class)
        if before == text:
            return False
        self._template_set(category=category, result_class=result_class, before=before,
                           after=text, actor=actor, at=at)
        return True

    class TemplateSet(Aggregate.Event):
        category: str
        result_class: str
        before: str | None
        after: str
        actor: str
        at: datetime

    @event(TemplateSet)
    def _template_set(self, category: str, result_class: str, before: str | None, after: str,
                      actor: str, at: datetime) -> None:
        self.templates.setdefault(category, {})[result_class] = after
        self.changed[f"{category}:{result_class}"] = {"actor": actor, "at": at}

    def remove_template(self, category: str, result_class: str, actor: str,
                        at: datetime) -> None:
        if category == DEFAULT:
            raise RuleViolation("a default template is never removed (change its text instead)")
        before = self.text_of(category, result_class)
        if before is None:
            raise LookupError(f"no {category} {result_class} template")
        self._template_removed(category=category, result_class=result_class, before=before,
                               actor=actor, at=at)

    class TemplateRemoved(Aggregate.Event):
        category: str
        result_class: str
        before: str
        actor: str
        at: datetime

    @event(TemplateRemoved)
    def _template_removed(self, category: str, result_class: str, before: str, actor: str,
                          at: datetime) -> None:
        del self.templates[category][result_class]
        if not self.templates[category]:
            del self.templates[category]
        self.changed.pop(f"{category}:{result_class}", None)


def history_of(book_events: list[Any], category: str, result_class: str,
               ) -> list[dict[str, Any]]:
    """One template's history, oldest first, from the book's events: each change's kind,
    who, when, the text before and after."""
    lines = []
    for e in book_events:
        if isinstance(e, ReplyTemplateBook.Seeded):
            text = e.templates.get(category, {}).get(result_class)
            if text is not None:
                lines.append({"event_type": "Seeded", "label": "初始导入", "actor": e.actor,
                              "at": e.at.isoformat(), "before": None, "after": text,
                              "version": e.originator_version})
        elif isinstance(e, (ReplyTemplateBook.TemplateSet, ReplyTemplateBook.TemplateRemoved)) \
                and e.category == category and e.result_class == result_class:
            removed = isinstance(e, ReplyTemplateBook.TemplateRemoved)
            lines.append({"event_type": type(e).__name__,
                          "label": "删除" if removed else ("新建" if e.before is None else "修改"),
                          "actor": e.actor, "at": e.at.isoformat(), "before": e.before,
                          "after": None if removed else e.after,
                          "version": e.originator_version})
    return lines

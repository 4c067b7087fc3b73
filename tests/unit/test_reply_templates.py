"""The reply-template book (答复模板, services/supervision/reply_templates.py): seeding, the
category's template or the default, changes and removals as events with who/when/before/after,
and the field-by-field refusals."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.supervision.errors import RuleViolation
from services.supervision.reply_templates import (InvalidTemplate, ReplyTemplateBook,
                                                  check_template, fill, history_of)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)
CATEGORIES = {"safety_hazard", "livelihood"}
SEED = {"default": {"A": "《{title}》已解决。{details}", "B": "《{title}》将于{commitment_date}前解决。"},
        "safety_hazard": {"B": "隐患《{title}》于{commitment_date}前整改。"}}


def book() -> ReplyTemplateBook:
    return ReplyTemplateBook.seed(SEED, "system", AT)


def test_the_category_s_own_template_else_the_default():
    b = book()
    assert b.chosen("safety_hazard", "B") == ("safety_hazard", "隐患《{title}》于{commitment_date}前整改。")
    assert b.chosen("safety_hazard", "A") == ("default", "《{title}》已解决。{details}")
    assert b.chosen(None, "B")[0] == "default"
    assert b.chosen("livelihood", "C") == ("default", "")  # neither exists


def test_a_change_is_an_event_with_who_when_before_and_after_and_the_same_text_is_none():
    b = book()
    assert b.set_template("safety_hazard", "B", "新文本{commitment_date}", "office", LATER)
    assert not b.set_template("safety_hazard", "B", "新文本{commitment_date}", "office", LATER)
    assert b.set_template("livelihood", "C", "因{reason}暂缓", "office2", LATER)
    events = b.collect_events()
    assert [type(e).__name__ for e in events] == ["Seeded", "TemplateSet", "TemplateSet"]
    history = history_of(events, "safety_hazard", "B")
    assert [(h["label"], h["actor"], h["before"], h["after"]) for h in history] == [
        ("初始导入", "system", None, "隐患《{title}》于{commitment_date}前整改。"),
        ("修改", "office", "隐患《{title}》于{commitment_date}前整改。", "新文本{commitment_date}")]
    assert history[1]["at"] == LATER.isoformat()
    assert history_of(events, "livelihood", "C")[0]["label"] == "新建"
    row = b.row("safety_hazard", "B")
    assert row["changed_by"] == "office" and row["variables"] == ["commitment_date"]


def test_removal_falls_back_to_the_default_and_a_default_is_never_removed():
    b = book()
    b.remove_template("safety_hazard", "B", "office", LATER)
    assert b.chosen("safety_hazard", "B")[0] == "default"
    with pytest.raises(LookupError):
        b.remove_template("safety_hazard", "B", "office", LATER)
    with pytest.raises(RuleViolation):
        b.remove_template("default", "A", "office", LATER)
    history = history_of(b.collect_events(), "safety_hazard", "B")
    assert history[-1]["label"] == "删除" and history[-1]["after"] is None


def test_the_book_rebuilt_from_its_events_is_the_same():
    b = book()
    b.set_template("livelihood", "A", "好{title}", "office", LATER)
    b.remove_template("safety_hazard", "B", "office", LATER)
    events = b.collect_events()
    copy = None
    for e in events:
        copy = e.mutate(copy)
    assert copy.templates == b.templates and copy.changed == b.changed


@pytest.mark.parametrize("category, result_class, text, fields", [
    ("no_such", "A", "文本", ["category"]),
    ("livelihood", "D", "文本", ["result_class"]),
    ("livelihood", "A", "   ", ["text"]),
    ("livelihood", "A", "长" * 2001, ["text"]),
    ("livelihood", "A", "请于{deadline}前", ["text"]),
    ("livelihood", "A", "括号{title", ["text"]),
    ("nope", "X", "", ["category", "result_class", "text"]),
])
def test_each_wrong_field_is_named(category, result_class, text, fields):
    with pytest.raises(InvalidTemplate) as refused:
        check_template(category, result_class, text, CATEGORIES)
    assert [e["field"] for e in refused.value.errors] == fields


def test_a_good_template_is_kept_stripped_and_its_known_variables_are_filled():
    text = check_template("default", "B", "  《{title}》于{commitment_date}前完成。{details} ",
                          CATEGORIES)
    assert text == "《{title}》于{commitment_date}前完成。{details}"
    assert fill(text, {"title": "加装电梯", "commitment_date": "2026年12月31日"}) == \
        "《加装电梯》于2026年12月31日前完成。{details}"


def test_a_wrong_seed_is_refused_naming_the_template():
    with pytest.raises(InvalidTemplate) as refused:
        ReplyTemplateBook.seed({"default": {"A": "{oops}", "Z": "x"}}, "system", AT)
    assert sorted(e["field"] for e in refused.value.errors) == ["default.A.text",
                                                                "default.Z.result_class"]

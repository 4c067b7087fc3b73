"""The annual duty report (年度履职报告) as one printable HTML page in Chinese.

Server-side, self-contained: inline CSS, no scripts, fonts, images or other external assets.
Every value from the record is escaped. The year's total, totals per cause and indicators are
the whole year's; a list the record caps (its most recent items) says "显示最近 N 条，共 M 条
(showing N of M)" and names the API path of the whole list.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from shared.clock import CHINA_TZ
from services.points.record import CAUSE_ZH, RATING_ZH, RESULT_ZH, ROLE_ZH

STYLE = """
body{font-family:"Songti SC","SimSun","Noto Serif CJK SC",serif;margin:2em auto;max-width:60em;
color:#111;line-height:1.5}
h1{text-align:center;font-size:1.6em;margin-bottom:.2em}
.sub{text-align:center;color:#444;margin-top:0}
h2{font-size:1.15em;border-bottom:2px solid #8b0000;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.n{text-align:right;white-space:nowrap}
.neg{color:#8b0000}
.summary td{font-size:1.05em}
.foot{margin-top:2em;color:#555;font-size:.85em}
.more{color:#444;font-size:.9em}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}tr{page-break-inside:avoid}
.foot{position:fixed;bottom:0}}
"""


def _e(value: Any) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _pts(value: float) -> str:
    text = f"{value:+g}" if value else "0"
    return f'<span class="neg">{text}</span>' if value < 0 else text


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(value: Any, numeric: bool = False, raw: bool = False) -> str:
    text = value if raw else _e(value)
    return f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>"


def _indicator_value(ind: dict[str, Any]) -> str:
    if ind["value"] is None:
        return "—"
    if ind["unit"] == "rate":
        return f"{ind['value'] * 100:.1f}%"
    return str(ind["value"])


def _shown(record: dict[str, Any], name: str) -> str:
    """Where a list of the record is capped: how many of how many it shows, and where the
    whole list is (a path of this platform's API)."""
    listed = (record.get("lists") or {}).get(name)
    if not listed or listed["shown"] >= listed["total"]:
        return ""
    return (f'<p class="more">显示最近 {listed["shown"]} 条，共 {listed["total"]} 条'
            f'（showing {listed["shown"]} of {listed["total"]}）；完整列表（the full list）：'
            f'<code>{escape(listed["href"])}</code></p>')


def render_report(record: dict[str, Any], generated_at: datetime | None = None) -> str:
    d = record["deputy"]
    year = record["year"]
    name = d.get("name") or d.get("id")
    generated = (generated_at or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)

    summary = _table(
        ["姓名", "代表层级", "代表小组", "联络站", "年度积分", "总排名", "小组排名"],
        [[_td(name), _td(d.get("level_zh") or d.get("level")), _td(d.get("group")),
          _td(d.get("station")), _td(f"{record['total']:g}", numeric=True),
          _td(f"{record['rank']} / {record['ranked_deputies']}" if record["rank"] else None),
          _td(f"{record['group_rank']} / {record['group_size']}" if record["group_rank"] else None)]],
        "")
    causes = _table(
        ["积分来源", "积分"],
        [[_td(CAUSE_ZH.get(cause, cause)), _td(_pts(points), numeric=True, raw=True)]
         for cause, points in (record.get("by_cause") or {}).items()],
        "本年度暂无积分记录。")
    indicators = _table(
        ["指标", "说明", "数值"],
        [[_td(i["name_zh"]), _td(i["name_en"]), _td(_indicator_value(i), numeric=True)]
         for i in record["indicators"]],
        "本年度规则未设置考核指标。")
    activities = _table(
        ["日期", "活动类别", "内容", "审核", "积分", "备注"],
        [[_td(a["date"]), _td(a["kind_zh"]), _td(a["description"]), _td(a["status_zh"]),
          _td(_pts(a["points"]) if a["points"] is not None else "—", numeric=True, raw=True),
          _td(a["capped_by"] or a["reason"])]
         for a in record["activities"]],
        "本年度无登记的履职活动。")
    suggestions = _table(
        ["立案号", "标题", "角色", "立案日期", "办理结果", "代表评价", "办结日期", "积分"],
        [[_td(s["number"]), _td(s["title"]), _td(ROLE_ZH.get(s["role"], s["role"])),
          _td(s["registered_on"]),
          _td(("已并入 " + s["merged_into"]) if s["merged_into"]
              else RESULT_ZH.get(s["result_class"]) if s["result_class"] else "办理中"),
          _td(RATING_ZH.get(s["rating"], s["rating"]) if s["closed_on"] else None),
          _td(s["closed_on"]), _td(_pts(s["points"]), numeric=True, raw=True)]
         for s in record["suggestions"]],
        "本年度无立案建议。")
    messages = _table(
        ["留言编号", "答复日期", "群众评价", "积分"],
        [[_td(m["message_id"][:8]), _td(m["answered_on"]),
          _td(RATING_ZH.get(m["rating"], m["rating"]) if m["rated_on"] else None),
          _td(_pts(m["points"]), numeric=True, raw=True)]
         for m in record["messages"]],
        "本年度无认领答复的群众留言。")
    lines = _table(
        ["序号", "日期", "类别", "积分", "规则版本", "说明"],
        [[_td(l["line_no"], numeric=True), _td(l["earned_on"]), _td(l["cause_zh"]),
          _td(_pts(l["points"]), numeric=True, raw=True), _td(l["rule_version"]),
          _td("；".join(x for x in (
              {"revocation": "撤销", "adjustment": "重新计算调整"}.get(l["type"], ""),
              l.get("reason") or "", l.get("capped_by") or "",
              f"（第{l['refers_to_line']}行）" if l.get("refers_to_line") else "") if x))]
         for l in record["lines"]],
        "本年度暂无积分记录。")

    evaluations = _table(
        ["评议结束日期", "参评人数", "总体满意率", "履职尽责满意率", "联系群众满意率"],
        [[_td(v["on"]), _td(v["evaluations"], numeric=True)]
         + [_td(f"{v[q] * 100:.1f}%" if v[q] is not None else "—", numeric=True)
            for q in ("overall", "duty", "contact")]
         for v in record.get("voter_evaluations") or []],
        "本年度尚无述职评议结果。")
    votes = _table(
        ["投票日期", "会议"],
        [[_td(v["on"]), _td(v["session"])] for v in record.get("project_votes") or []],
        "本年度未参加民生实事项目票决。")

    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{_e(name)} {year}年度履职报告</title>
<style>{STYLE}</style>
</head>
<body>
<h1>人大代表{year}年度履职报告</h1>
<p class="sub">{_e(name)}（{_e(d.get("group"))}） · 积分规则版本 {_e(record.get("rule_version"))}</p>
<h2>一、基本情况与年度积分</h2>
{summary}
{causes}
<h2>二、履职考核指标</h2>
{indicators}
<h2>三、履职活动</h2>
{_shown(record, "activities")}
{activities}
<h2>四、代表建议</h2>
{_shown(record, "suggestions")}
{suggestions}
<h2>五、群众意见办理</h2>
{_shown(record, "messages")}
{messages}
<h2>六、积分明细</h2>
{_shown(record, "lines")}
{lines}
<h2>七、向选民述职与民主评议</h2>
{evaluations}
<h2>八、民生实事项目票决</h2>
{votes}
<p class="foot">本报告由代表履职服务平台根据履职积分台账自动生成，生成时间：{generated:%Y-%m-%d %H:%M}（北京时间）。
排名规则：按年度积分从高到低；积分相同者，经审核通过的履职活动多者在前；仍相同者按代表编号排列。</p>
</body>
</html>
"""

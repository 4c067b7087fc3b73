"""Monthly dispatches and quarterly bulletins: periods, publication and the printable page.

A bulletin is generated once, after its period has ended, from the board as on the period's
last day and the statistics of the period, both computed from dated facts (reply, rating,
close-out and re-handling dates), so events recorded after the period do not enter it. The
figures are then frozen in the bulletin's own event. The board is that of the tasks opened in
the period's year; its counts are complete, its case lists (each cell's and the overdue list)
hold the first 50 by deadline.
"""

from __future__ import annotations

import calendar
import html
import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError

from shared.contracts.requests.supervision import BulletinHtml, GetBulletin, PublishBulletin
from shared.eventstore import Actor
from shared.rpc import Conflict, Forbidden, Invalid, NotFound

from services.supervision.domain import Bulletin

if TYPE_CHECKING:
    from services.supervision.application import SupervisionApplication
    from services.supervision.read_models import SupervisionViews

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
COLOUR_NAMES = {"green": "正常", "yellow": "临期", "red": "超期", "closed": "已办结"}
COLOUR_FILL = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828", "closed": "#607d8b"}


def period_bounds(period: str) -> tuple[str, date, date]:
    """``2026-03`` → a monthly dispatch; ``2026-Q1`` → a quarterly bulletin."""
    if m := _MONTH.match(period):
        year, month = int(m[1]), int(m[2])
        return "monthly", date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    if m := _QUARTER.match(period):
        year, quarter = int(m[1]), int(m[2])
        first = 3 * quarter - 2
        last = first + 2
        return "quarterly", date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])
    raise ValueError("period must be a month (2026-03) or a quarter (2026-Q1)")


def bulletin_view(b: Bulletin) -> dict[str, Any]:
    return {
        "id": str(b.id),
        "period": b.period,
        "kind": b.kind,
        "from": b.start.isoformat(),
        "to": b.end.isoformat(),
        "published_at": b.published_at.isoformat(),
        "published_by": b.published_by,
        "board": b.board,
        "stats": b.stats,
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _bar_chart(by_unit: dict[str, dict[str, int]], units: dict[str, str]) -> str:
    """A stacked horizontal bar per unit (inline SVG: no external assets)."""
    rows = list(by_unit.items())
    if not rows:
        return "<p>本期无在办任务。</p>"
    biggest = max(sum(c.values()) for _, c in rows) or 1
    width, bar_h, label_w = 640, 22, 160
    height = 30 + len(rows) * (bar_h + 10)
    parts = [f'<svg role="img" aria-label="各承办单位任务分布" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg" font-size="13">']
    for i, (unit, counts) in enumerate(rows):
        y = 10 + i * (bar_h + 10)
        parts.append(f'<text x="0" y="{y + 16}">{html.escape(units.get(unit, unit))}</text>')
        x = float(label_w)
        for colour in COLOUR_FILL:
            n = counts.get(colour, 0)
            if not n:
                continue
            w = (width - label_w - 40) * n / biggest
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{COLOUR_FILL[colour]}"><title>{COLOUR_NAMES[colour]} {n}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 16}">{sum(counts.values())}</text>')
    legend_y = height - 6
    for j, colour in enumerate(COLOUR_FILL):
        parts.append(f'<rect x="{label_w + j * 90}" y="{legend_y - 10}" width="10" height="10" '
                     f'fill="{COLOUR_FILL[colour]}"/><text x="{label_w + j * 90 + 14}" '
                     f'y="{legend_y}">{COLOUR_NAMES[colour]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_bulletin_html(view: dict[str, Any], units: dict[str, str],
                         categories: Mapping[str, str]) -> str:
    """The printable page, in Chinese."""
    kind = "月度督办通报" if view["kind"] == "monthly" else "季度督办通报"
    stats, board = view["stats"], view["board"]
    e = html.escape

    def rate_rows(groups: dict[str, dict[str, Any]], names: dict[str, str]) -> str:
        return "".join(
            f"<tr><td>{e(names.get(k, k))}</td><td>{v['cases']}</td><td>{_pct(v['on_time_reply_rate'])}</td>"
            f"<td>{_pct(v['resolution_rate'])}</td><td>{_pct(v['satisfaction_rate'])}</td>"
            f"<td>{_pct(v['rehandling_rate'])}</td></tr>" for k, v in groups.items()
        ) or '<tr><td colspan="6">本期无答复。</td></tr>'

    head = ("<tr><th>名称</th><th>答复件数</th><th>按时答复率</th><th>解决率（A类）</th>"
            "<th>满意率</th><th>重新办理率</th></tr>")
    overdue = "".join(
        f"<tr><td>{e(i.get('number') or '')}</td><td>{e(i['title'])}</td>"
        f"<td>{e(units.get(i['unit_id'], i['unit_id']))}</td><td>{e(i['deadline'])}</td></tr>"
        for i in board["overdue"]
    ) or '<tr><td colspan="4">无超期件。</td></tr>'
    totals = board["totals"]
    # A bulletin's board lists the first ``cases_limit`` overdue tasks by deadline (older
    # bulletins listed them all); its counts are complete.
    overdue_count = board.get("overdue_count", len(board["overdue"]))
    capped = (f"<p>超期件共 {overdue_count} 件，以上列出时限最早的 {len(board['overdue'])} 件。</p>"
              if overdue_count > len(board["overdue"]) else "")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(view['period'])} {kind}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif;
       max-width: 900px; margin: 2em auto; padding: 0 1em; color: #222; }}
h1 {{ text-align: center; color: #b71c1c; }} table {{ border-collapse: collapse; width: 100%; margin: 1em 0; }}
th, td {{ border: 1px solid #999; padding: 4px 8px; text-align: center; }}
.meta {{ text-align: center; color: #555; }}
@media print {{ body {{ margin: 0; max-width: none; }} .noprint {{ display: none; }} }}
</style></head><body>
<h1>建议办理{kind}</h1>
<p class="meta">统计期间：{e(view['from'])} 至 {e(view['to'])}　发布：{e(view['published_at'][:10])}</p>
<h2>一、总体情况</h2>
<p>截至{e(view['to'])}，在办及办结任务共 {sum(totals.values())} 件：正常 {totals['green']} 件，
临期 {totals['yellow']} 件，超期 {totals['red']} 件，已办结 {totals['closed']} 件。
本期答复 {stats['cases']} 件，按时答复率 {_pct(stats['on_time_reply_rate'])}，
解决率（A类） {_pct(stats['resolution_rate'])}，满意率 {_pct(stats['satisfaction_rate'])}，
重新办理率 {_pct(stats['rehandling_rate'])}。</p>
<h2>二、各承办单位任务分布</h2>
{_bar_chart(board['by_unit'], units)}
<h2>三、各承办单位办理情况</h2>
<table>{head}{rate_rows(stats['per_unit'], units)}</table>
<h2>四、分类办理情况</h2>
<table>{head}{rate_rows(stats['per_category'], categories)}</table>
<h2>五、超期件清单</h2>
<table><tr><th>编号</th><th>标题</th><th>承办单位</th><th>办理时限</th></tr>{overdue}</table>
{capped}
<p class="noprint"><button onclick="window.print()">打印</button></p>
</body></html>
"""


# --- publication and reading (the office's command and its queries) ------------------------

def publish_bulletin(app: SupervisionApplication, read: SupervisionViews,
                     cmd: PublishBulletin, actor: Actor) -> dict[str, Any]:
    """Publish the bulletin of a period that has ended, once (again: the one published)."""
    if actor.role != "office":
        raise Forbidden("only the office publishes bulletins")
    try:
        kind, start, end = period_bounds(cmd.period)
    except ValueError as exc:
        raise Invalid.field(["body", "period"], str(exc)) from None
    if end >= app.today():
        raise Conflict(f"the period {cmd.period} ends on {end.isoformat()}; a bulletin is "
                       "published after its period has ended")
    try:
        existing: Bulletin = app.repository.get(Bulletin.create_id(cmd.period))
        return {**bulletin_view(existing), "already_published": True}
    except AggregateNotFoundError:
        pass
    bulletin = Bulletin(period=cmd.period, kind=kind, start=start, end=end,
                        published_at=app.clock.now(), published_by=actor.username,
                        board=read.board(end, end.year), stats=read.stats(start, end))
    app.save(bulletin)  # a concurrent publication of the same period conflicts: one wins
    return bulletin_view(bulletin)


def published(app: SupervisionApplication, period: str) -> Bulletin:
    try:
        return app.repository.get(Bulletin.create_id(period))
    except AggregateNotFoundError:
        raise NotFound(f"no bulletin published for {period}") from None


def get_bulletin(app: SupervisionApplication, ref: GetBulletin, actor: Actor) -> dict[str, Any]:
    return bulletin_view(published(app, ref.period))


class CategoryNames(Mapping[str, str]):
    """Category code -> Chinese name, read from the service's replica of the registry's
    categories when the page is made (a closed category keeps its name)."""

    def __init__(self, table: Mapping[str, Mapping[str, Any]]) -> None:
        self.table = table

    def __getitem__(self, code: str) -> str:
        return str(self.table[code].get("name_zh") or code)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.table))

    def __len__(self) -> int:
        return len(self.table)


def names_of(app: SupervisionApplication) -> Mapping[str, str]:
    """The categories' names the printable page shows (as the units' names, from the
    service's replica of the registry's records, read when the page is made)."""
    return CategoryNames(app.reference.table("category"))


def bulletin_html(app: SupervisionApplication, categories: Mapping[str, str],
                  ref: BulletinHtml, actor: Actor) -> dict[str, Any]:
    units = {unit_id: u.get("name", unit_id) for unit_id, u in list(app.units.items())}
    return {"html": render_bulletin_html(bulletin_view(published(app, ref.period)), units,
                                         categories)}

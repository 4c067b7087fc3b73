"""Roster import's reading and checking (services/registry/roster_import.py), alone: the file
recognised by its bytes, Chinese or English headers, each problem with its row (as the
spreadsheet shows it) and column, and the comparison with what the registry holds."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from services.registry import roster_import as ri

KNOWN = ri.Known(stations={"station-fengjie": "奉节县鱼复街道代表联络站",
                           "station-jiading": "嘉定区菊园新区人大代表实践站"},
                 terms={"term-17": "第十七届", "term-16": "第十六届"})

HEADER_ZH = "代表编号,姓名,层级,代表小组,选区,联络站,电话,届次"
GOOD = [
    "d-1,王建国,县,城建环保组,第一选区,station-fengjie,023-56550101,term-17",
    "d-2,李秀英,municipal,民生保障组,第二选区,奉节县鱼复街道代表联络站,13800001111,第十七届",
]


def csv_bytes(lines: list[str], bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n").encode("utf-8")


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def problems(checked: ri.Checked) -> list[tuple[int, str, str]]:
    return [(p.row, p.column, p.message) for p in checked.problems]


@pytest.mark.parametrize("bom", [False, True])
def test_a_clean_csv_gives_one_record_per_row_with_references_resolved(bom: bool) -> None:
    checked = ri.check("deputies", csv_bytes([HEADER_ZH, *GOOD], bom=bom), KNOWN)
    assert checked.ok and checked.rows == 2
    first, second = checked.records
    assert first == {"id": "d-1", "name": "王建国", "level": "district", "level_zh": "县",
                     "group": "城建环保组", "constituency": "第一选区",
                     "station": "station-fengjie", "phone": "023-56550101", "terms": ["term-17"]}
    # a station or term by its name is recorded by its id; a level by its code
    assert (second["station"], second["terms"], second["level"]) == \
        ("station-fengjie", ["term-17"], "municipal")


def test_english_headers_in_any_order_and_unknown_columns_ignored() -> None:
    data = csv_bytes(["Name,ID,level,备注,phone", "王建国,d-1,national,无,13800001111"])
    checked = ri.check("deputies", data, KNOWN)
    assert checked.ok
    assert checked.records == [{"id": "d-1", "name": "王建国", "level": "national",
                                "level_zh": "全国", "phone": "13800001111"}]
    assert checked.ignored == ["备注"]
    # the columns the file does not carry are not in the record (the registry keeps them)
    assert "station" not in checked.records[0] and "group" not in checked.records[0]


def test_every_problem_is_reported_with_its_row_and_column() -> None:
    rows = [
        HEADER_ZH,
        GOOD[0],                                                           # row 2: fine
        ",无名,县,,,station-fengjie,,",                                     # 3: no id
        "d-3,张伟,村,,,station-fengjie,12345,term-17",                      # 4: level, phone
        "d-4,赵六,乡,,,station-nowhere,,第九十九届",                          # 5: station, term
        "d-1,重复,县,,,,,",                                                  # 6: duplicate id
        "",                                                                 # 7: empty: skipped
        "d-5,,县,,,,,",                                                      # 8: no name
    ]
    checked = ri.check("deputies", csv_bytes(rows), KNOWN)
    got = problems(checked)
    assert [(r, c) for r, c, _ in got] == [
        (3, "代表编号"), (4, "层级"), (4, "电话"), (5, "联络站"), (5, "届次"), (6, "代表编号"),
        (8, "姓名")]
    messages = dict(((r, c), m) for r, c, m in got)
    assert messages[(3, "代表编号")] == "代表编号不能为空"
    assert "“村”无效" in messages[(4, "层级")]
    assert "格式不对" in messages[(4, "电话")]
    assert "station-nowhere" in messages[(5, "联络站")] and "不存在" in messages[(5, "联络站")]
    assert "第九十九届" in messages[(5, "届次")]
    assert "重复" in messages[(6, "代表编号")] and "第 2 行" in messages[(6, "代表编号")]
    assert checked.rows == 6  # the empty row 7 is not a row of the roster
    assert [r["id"] for r in checked.records] == ["d-1"]


def test_the_column_named_is_the_header_as_written_in_the_file() -> None:
    checked = ri.check("deputies", csv_bytes(["id,name,level,phone", "d-1,王,县,abc"]), KNOWN)
    assert problems(checked)[0][:2] == (2, "phone")


def test_a_required_column_missing_refuses_the_whole_file() -> None:
    with pytest.raises(ri.UnreadableFile) as refused:
        ri.check("deputies", csv_bytes(["代表编号,电话", "d-1,13800001111"]), KNOWN)
    assert "缺少必填列：姓名、层级" in refused.value.message_zh


@pytest.mark.parametrize("data, words", [
    (b"%PDF-1.4 something", "不支持的文件类型"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "不支持的文件类型"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, "旧版 Excel"),
    (b"MZ\x90\x00\x03\x00\x00\x00", "不支持的文件类型"),
    (b"\x01\x02\x00\x03binary", "不是文本"),
    (b"", "文件是空的"),
])
def test_a_file_that_is_neither_csv_nor_xlsx_is_refused_by_its_bytes(data: bytes,
                                                                     words: str) -> None:
    with pytest.raises(ri.UnreadableFile) as refused:
        ri.check("deputies", data, KNOWN)
    assert words in refused.value.message_zh


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("roster.csv", "id,name,level\nd-1,王,县\n")
    with pytest.raises(ri.UnreadableFile) as refused:
        ri.check("deputies", out.getvalue(), KNOWN)
    assert "不是 Excel 工作簿" in refused.value.message_zh


def test_an_xlsx_is_read_whatever_its_name_with_numbers_as_text_and_rows_as_shown() -> None:
    data = xlsx_bytes([
        ["代表编号", "姓名", "层级", "联络站", "电话"],
        [1001, "王建国", "县", "station-fengjie", 13800001111],
        [None, None, None, None, None],
        [1002.0, "李秀英", "乡镇", "station-jiading", "023-5655 0102"],
        [1003, "张伟", "县", "station-fengjie", 123],
    ])
    assert ri.file_format(data) == "xlsx"
    checked = ri.check("deputies", data, KNOWN)
    assert [(r["id"], r["phone"], r["level"]) for r in checked.records] == [
        ("1001", "13800001111", "district"), ("1002", "023-56550102", "township")]
    assert problems(checked)[0][:2] == (5, "电话")  # the empty row 3 still counts
    assert checked.rows == 3


def test_a_title_line_above_the_header_keeps_the_row_numbers_of_the_sheet() -> None:
    data = xlsx_bytes([["某市人大代表名册"], [], ["id", "name", "level"], ["d-1", "王", "省"],
                       ["d-2", "", "省"]])
    checked = ri.check("deputies", data, KNOWN)
    assert problems(checked) == [(5, "name", "姓名不能为空")]
    assert [r["id"] for r in checked.records] == ["d-1"]


def test_a_file_without_any_known_column_names_the_columns_expected() -> None:
    with pytest.raises(ri.UnreadableFile) as refused:
        ri.check("deputies", csv_bytes(["甲,乙", "1,2"]), KNOWN)
    assert "缺少必填列：代表编号、姓名、层级" in refused.value.message_zh
    assert "代表编号（id）" in refused.value.message_zh


def test_a_gb18030_csv_from_a_chinese_excel_is_read() -> None:
    data = "\r\n".join([HEADER_ZH, GOOD[0]]).encode("gb18030")
    checked = ri.check("deputies", data, KNOWN)
    assert checked.ok and checked.records[0]["name"] == "王建国"


def test_stations_with_grids_and_units_with_categories_as_lists() -> None:
    stations = ri.check("stations", csv_bytes([
        "联络站编号,名称,区县,网格",
        'st-1,一号站,奉节县,"鱼复-01;鱼复-02"',
        "st-2,二号站,嘉定区,菊园-01、菊园-02、菊园-01",
        "st-1,重复站,嘉定区,",
    ]))
    assert [(r["id"], r["grids"]) for r in stations.records] == [
        ("st-1", ["鱼复-01", "鱼复-02"]), ("st-2", ["菊园-01", "菊园-02"])]
    assert problems(stations)[0][:2] == (4, "联络站编号")
    units = ri.check("units", csv_bytes([
        "单位编号,单位名称,上级,类别", "unit-a,区住建局,区人民政府,urban_construction;ecology",
        "unit-b,区民政局,,"]))
    assert units.ok
    assert units.records[0]["categories"] == ["urban_construction", "ecology"]
    assert units.records[1] == {"id": "unit-b", "name": "区民政局", "parent": "",
                                "categories": []}


def test_a_station_name_shared_by_two_stations_must_be_given_by_id() -> None:
    known = ri.Known(stations={"s-1": "同名站", "s-2": "同名站"})
    checked = ri.check("deputies", csv_bytes(["id,name,level,station", "d-1,王,县,同名站",
                                              "d-2,李,县,s-2"]), known)
    assert problems(checked) == [(2, "station", "联络站名称“同名站”不唯一，请填写编号")]


def test_compare_sorts_created_changed_and_unchanged_and_keeps_fields_not_carried() -> None:
    existing = {
        "d-1": {"id": "d-1", "name": "王建国", "level": "district", "level_zh": "县",
                "voters": [{"id": "v-1"}], "phone": "023-56550101"},
        "d-2": {"id": "d-2", "name": "李秀英", "level": "municipal", "level_zh": "市",
                "voters": [{"id": "v-2"}]},
    }
    checked = ri.check("deputies", csv_bytes([
        "id,name,level,constituency",
        "d-1,王建国,县,",  # an empty value and a missing field are the same: unchanged
        "d-2,李秀英,乡,",
        "d-3,张伟,乡,一选区"]), KNOWN)
    plan = ri.compare(checked, existing)
    assert plan.unchanged == 1
    assert [r["id"] for r in plan.create] == ["d-3"]
    assert plan.change == [{"id": "d-2", "name": "李秀英", "level": "township",
                            "level_zh": "乡", "voters": [{"id": "v-2"}], "constituency": ""}]


def test_compare_in_the_registry_shape_tells_what_it_refuses_at_the_row() -> None:
    class Refused(ValueError):
        errors = [{"field": "name", "msg": "不能超过 5 个字符"}]

    def canonical(record: dict) -> dict:
        if len(record["name"]) > 5:
            raise Refused()
        return {"id": record["id"], "name": record["name"], "level": record["level"],
                "group": record.get("group") or None}

    existing = {"d-1": {"id": "d-1", "name": "王建国", "level": "district", "group": None}}
    checked = ri.check("deputies", csv_bytes([
        "代表编号,姓名,层级,代表小组", "d-1,王建国,县,", "d-2,一个很长的名字啊,县,",
        "d-3,李,乡,组"]), KNOWN)
    plan = ri.compare(checked, existing, canonical)
    assert plan.unchanged == 1 and plan.change == []
    assert plan.create == [{"id": "d-3", "name": "李", "level": "township", "group": "组"}]
    assert problems(checked) == [(3, "姓名", "不能超过 5 个字符")]


def test_a_deputy_may_belong_to_several_terms_named_by_id_or_name() -> None:
    checked = ri.check("deputies", csv_bytes(["id,name,level,届次", "d-1,王,县,term-16；第十七届",
                                              "d-2,李,县,term-16;第九届"]), KNOWN)
    assert checked.records[0]["terms"] == ["term-16", "term-17"]
    assert problems(checked) == [(3, "届次", "届次“第九届”不存在（系统中没有此届次）")]


def test_the_report_lists_at_most_the_limit_but_counts_every_problem() -> None:
    lines = [HEADER_ZH] + [f"d-{i},,县,,,,," for i in range(30)]
    checked = ri.check("deputies", csv_bytes(lines), KNOWN)
    report = ri.report(checked, ri.compare(checked, {}), max_errors=10)
    assert report["error_count"] == 30 and len(report["errors"]) == 10
    assert report["errors_truncated"] is True
    assert report["errors"][0] == {"row": 2, "column": "姓名", "message": "姓名不能为空",
                                   "msg": "姓名不能为空"}
    assert (report["rows"], report["would_create"]) == (30, 0)


def test_too_many_rows_refuse_the_file() -> None:
    lines = ["id,name,level"] + [f"d-{i},王,县" for i in range(ri.MAX_ROWS + 1)]
    with pytest.raises(ri.UnreadableFile) as refused:
        ri.check("deputies", csv_bytes(lines), KNOWN)
    assert f"超过 {ri.MAX_ROWS} 行" in refused.value.message_zh


@pytest.mark.parametrize("kind, config", [("deputies", "deputies"), ("units", "units"),
                                          ("stations", "stations")])
def test_an_export_imports_again_unchanged(kind: str, config: str) -> None:
    import csv
    from pathlib import Path

    import yaml

    from services.registry import roster_export

    records = yaml.safe_load((Path(__file__).resolve().parents[2] / "config"
                              / f"{config}.yaml").read_text(encoding="utf-8"))
    for r in records:
        if kind == "deputies":
            r["terms"] = ["term-17"]
    rows = {r["id"]: {"record": r, "active": True} for r in records}
    first = roster_export.page(kind, rows, None, 2)
    rest = roster_export.page(kind, rows, first["next"], 1000)
    assert first["next"] and rest["next"] is None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(first["columns"])
    writer.writerows(first["rows"] + rest["rows"])
    known = ri.Known(stations={"station-fengjie": "", "station-jiading": "",
                               "station-huangdao": ""}, terms={"term-17": "第十七届"})
    checked = ri.check(kind, out.getvalue().encode("utf-8"), known)
    assert checked.ok and checked.rows == len(records)
    plan = ri.compare(checked, {r["id"]: r for r in records})
    assert (plan.create, plan.change, plan.unchanged) == ([], [], len(records))
    # and the same through Excel
    book = Workbook()
    sheet = book.active
    for line in [first["columns"], *first["rows"], *rest["rows"]]:
        sheet.append(line)
    data = io.BytesIO()
    book.save(data)
    plan = ri.compare(ri.check(kind, data.getvalue(), known), {r["id"]: r for r in records})
    assert plan.unchanged == len(records)


def test_a_key_not_of_the_registry_form_is_a_problem_of_its_row() -> None:
    checked = ri.check("units", csv_bytes(["id,name", "区 住建局,区住建局", "-x,某", "unit-a,区"]))
    assert [(r, c) for r, c, _ in problems(checked)] == [(2, "id"), (3, "id")]
    assert "字母、数字" in checked.problems[0].message

"""Roster import (名册导入, issue 29 point 2): read an uploaded CSV or XLSX roster of deputies,
handling units or liaison stations, and check every row. Pure: bytes and the known records
in, records and problems out; the registry's application decides what to save.

- **The file** is recognised by its bytes, never by its name: an Excel workbook (a zip whose
  ``[Content_Types].xml`` declares one; read with openpyxl's read-only mode, the first
  worksheet) or text, read as CSV (UTF-8 with or without a byte-order mark; GB18030, which
  Excel on a Chinese Windows writes, when it is not UTF-8; comma or tab separated). A PDF, an
  image, a Word document, another zip or a binary file is refused with a message in Chinese.
- **The header** is the first row naming a column (row 1, or below a title line). Each
  column is named in Chinese or English (``代表编号`` or ``id``...; :data:`COLUMNS`); a column
  named otherwise is ignored (and listed as such); a required column missing refuses the file.
- **Rows** are numbered as the spreadsheet shows them (the header row 1, the first data row
  2); an empty row is skipped. Each problem names its row, its column (the header's text as
  in the file) and what is wrong, in Chinese: an empty required value, a bad level or phone,
  a station or term the registry does not know, a key given twice in the file, a key not
  of the registry's form, a value too long.
- **Records**: a row gives the fields of the columns the file has (``level`` also gives
  ``level_zh``; ``grids``, ``categories`` and a deputy's ``terms`` are lists, separated by
  ``;`` ``；`` ``、`` or ``,``; a station or a term may be named by its id or its name). A column the file does not have is not in the record: on update the registry keeps
  what it had there (and always what no import carries: a deputy's voters and enterprises).

:func:`compare` then sorts valid records into created, changed and unchanged against the
records the registry holds, and :func:`report` answers a bounded report.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Callable, Iterator, Mapping

KINDS = ("deputies", "units", "stations")
# The registry's record kind of each import kind (shared/contracts/registry.py).
RECORD_KIND = {"deputies": "deputy", "units": "unit", "stations": "station"}
KIND_ZH = {"deputies": "代表", "units": "承办单位", "stations": "联络站"}

MAX_ROWS = 50_000  # data rows in one file (a whole city's deputies is about 10,000)
HEADER_SEARCH_ROWS = 10  # a title line or two may stand above the header
MAX_ERRORS = 1_000  # problems listed in a report (error_count counts them all)
MAX_UNZIPPED = 200 * 1024 * 1024  # an XLSX whose parts inflate beyond this is refused
KEY_MAX = 64  # a record's stable key (shared/contracts/registry.py)
TEXT_MAX = 200
NAME_MAX = 100
LIST_MAX = 500  # grids of one station, categories of one unit
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")  # limits.PHONE_PATTERN
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")  # the registry's stable keys
LIST_SEPARATORS = re.compile(r"[;；、,，\n]+")

# Deputies' levels (五级), by code, with the Chinese label kept beside the code
# (config/deputies.yaml) and the spellings a roster may use.
LEVELS = {"national": "全国", "provincial": "省", "municipal": "市", "district": "县",
          "township": "乡"}
LEVEL_SPELLINGS = {
    "national": ("国家", "国家级", "全国", "全国人大"),
    "provincial": ("省", "省级", "省人大", "自治区"),
    "municipal": ("市", "市级", "市人大", "地级市", "州"),
    "district": ("县", "县级", "区", "区级", "区县", "县区", "县（区）", "县(区)", "县人大",
                 "区人大"),
    "township": ("乡", "乡级", "镇", "乡镇", "乡镇级", "街道"),
}
LEVEL_OF = {**{code: code for code in LEVELS},
            **{s: code for code, spellings in LEVEL_SPELLINGS.items() for s in spellings}}


@dataclass(frozen=True)
class Column:
    key: str  # the record's field
    zh: str  # the header an export writes
    names: tuple[str, ...] = ()  # other headers accepted (compared without case and spaces)
    required: bool = False
    is_list: bool = False
    max_length: int = TEXT_MAX


COLUMNS: dict[str, tuple[Column, ...]] = {
    "deputies": (
        Column("id", "代表编号", ("id", "编号", "代表id", "deputy_id", "代表号"), True,
               max_length=KEY_MAX),
        Column("name", "姓名", ("name", "代表姓名"), True, max_length=NAME_MAX),
        Column("level", "层级", ("level", "代表层级", "级别"), True),
        Column("group", "代表小组", ("group", "小组", "专业小组")),
        Column("delegation", "代表团", ("delegation", "所在代表团")),
        Column("constituency", "选区", ("constituency", "选举单位", "选区/选举单位")),
        Column("station", "联络站", ("station", "station_id", "联络站编号", "代表联络站")),
        Column("phone", "电话", ("phone", "联系电话", "手机", "手机号")),
        Column("terms", "届次", ("term", "terms", "term_id", "届", "届别"), is_list=True),
    ),
    "units": (
        Column("id", "单位编号", ("id", "编号", "unit_id"), True, max_length=KEY_MAX),
        Column("name", "单位名称", ("name", "名称", "单位"), True, max_length=NAME_MAX),
        Column("parent", "上级", ("parent", "上级单位", "主管单位")),
        Column("categories", "类别", ("categories", "category", "承办类别", "分类"),
               is_list=True),
    ),
    "stations": (
        Column("id", "联络站编号", ("id", "编号", "station_id", "站点编号"), True,
               max_length=KEY_MAX),
        Column("name", "名称", ("name", "联络站名称", "联络站", "站点名称"), True,
               max_length=NAME_MAX),
        Column("district", "区县", ("district", "区", "县", "所在区县")),
        Column("grids", "网格", ("grids", "grid", "网格名称"), is_list=True),
    ),
}


def columns_of(kind: str) -> tuple[Column, ...]:
    if kind not in COLUMNS:
        raise ValueError(f"unknown import kind {kind!r}")
    return COLUMNS[kind]


def _folded(text: str) -> str:
    """A header as compared: NFKC (full-width letters and brackets), no spaces, lower case,
    without a trailing ``*`` (a required mark) or colon."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text).strip("*：:").lower()


def _header_index(kind: str) -> dict[str, Column]:
    index: dict[str, Column] = {}
    for column in columns_of(kind):
        for name in (column.key, column.zh, *column.names):
            index.setdefault(_folded(name), column)
    return index


class UnreadableFile(ValueError):
    """The file as a whole cannot be imported (not CSV or XLSX, unreadable, a required column
    missing, too many rows): ``message_zh`` says why (answered 422)."""

    def __init__(self, message_zh: str) -> None:
        super().__init__(message_zh)
        self.message_zh = message_zh


# --- reading the file -------------------------------------------------------------------------

XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
ACCEPTED_ZH = "只能导入 Excel 工作簿（.xlsx）或 CSV 文本文件（按文件内容判断，改扩展名无效）"


def file_format(data: bytes) -> str:
    """``xlsx`` or ``csv`` as the bytes say; UnreadableFile for anything else."""
    if not data or not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise UnreadableFile("文件是空的，请选择要导入的名册文件。")
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                info = z.getinfo("[Content_Types].xml")
                types = z.read(info).decode("utf-8", "replace") if info.file_size < 1 << 20 else ""
        except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError,
                NotImplementedError):
            types = ""
        if f'ContentType="{XLSX_MAIN}"' in types:
            return "xlsx"
        if "ms-excel.sheet.macroEnabled" in types:
            raise UnreadableFile(f"不能导入启用宏的工作簿（.xlsm）：{ACCEPTED_ZH}。")
        raise UnreadableFile(f"这不是 Excel 工作簿：{ACCEPTED_ZH}。")
    if data.startswith((b"%PDF-", b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"\xd0\xcf\x11\xe0",
                        b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"MZ", b"\x7fELF")):
        if data.startswith(b"\xd0\xcf\x11\xe0"):
            raise UnreadableFile("不能导入旧版 Excel 文件（.xls）：请在 Excel 中另存为 .xlsx "
                                 "或 CSV（UTF-8）后再导入。")
        raise UnreadableFile(f"不支持的文件类型：{ACCEPTED_ZH}。")
    if b"\x00" in data[:65536]:
        raise UnreadableFile(f"不支持的文件类型（文件不是文本）：{ACCEPTED_ZH}。"
                             "CSV 请保存为 UTF-8 编码。")
    return "csv"


def _decoded(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("无法识别 CSV 文件的编码：请保存为 UTF-8 编码的 CSV。")


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    text = _decoded(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False):
            yield row
    except csv.Error as exc:
        raise UnreadableFile(f"CSV 文件格式有误，无法读取：{exc}") from None


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(i.file_size for i in z.infolist()) > MAX_UNZIPPED:
                raise UnreadableFile("工作簿解压后过大，无法导入：请拆分后分批导入。")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except UnreadableFile:
        raise
    except Exception:  # noqa: BLE001  any failure to open: not a usable workbook
        raise UnreadableFile("Excel 工作簿已损坏或无法读取，请在 Excel 中重新保存后再导入。") \
            from None
    try:
        sheets = [ws for ws in book.worksheets if hasattr(ws, "iter_rows")]
        if not sheets:
            raise UnreadableFile("工作簿中没有工作表。")
        sheet = sheets[0]
        sheet.reset_dimensions()  # a written dimension may be wrong: read every row there is
        try:
            for row in sheet.iter_rows(values_only=True):
                yield list(row)
        except UnreadableFile:
            raise
        except Exception:  # noqa: BLE001
            raise UnreadableFile("Excel 工作簿内容有误，无法读取，请在 Excel 中重新保存后再导入。") \
                from None
    finally:
        book.close()


def cell_text(value: Any) -> str:
    """A cell as text: whole numbers without ``.0`` (a phone or a key typed as a number),
    dates as ISO dates, spaces (full-width too) trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).replace("\u3000", " ").replace("\ufeff", "")
    return text.strip()


@dataclass
class Table:
    """A file read: its header and its non-empty data rows, each with its row number."""

    header_row: int
    columns: dict[str, tuple[int, str]]  # key -> (index, header text as in the file)
    ignored: list[str]
    rows: list[tuple[int, list[str]]]


def read_table(kind: str, data: bytes) -> Table:
    """Read a roster file of ``kind``; UnreadableFile when it cannot be imported at all."""
    fmt = file_format(data)
    rows = _xlsx_rows(data) if fmt == "xlsx" else _csv_rows(data)
    index = _header_index(kind)
    # the header: the first row naming a column (a title line above it is skipped), or the
    # first non-empty row when none of the first rows does (its missing columns are told)
    header_row = 0
    header: list[str] = []
    first: tuple[int, list[str]] | None = None
    for number, raw in enumerate(rows, start=1):
        texts = [cell_text(v) for v in raw]
        if any(texts) and first is None:
            first = (number, texts)
        if any(_folded(t) in index for t in texts if t):
            header_row, header = number, texts
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if not header_row:
        if first is None:
            raise UnreadableFile("文件中没有表头行：第一行应是列名（如 "
                                 + "、".join(c.zh for c in columns_of(kind)) + "）。")
        header_row, header = first
    columns: dict[str, tuple[int, str]] = {}
    ignored: list[str] = []
    repeated: list[str] = []
    for i, text in enumerate(header):
        if not text:
            continue
        column = index.get(_folded(text))
        if column is None:
            ignored.append(text)
        elif column.key in columns:
            repeated.append(text)
        else:
            columns[column.key] = (i, text)
    if repeated:
        raise UnreadableFile("表头中有重复的列：" + "、".join(repeated) + "。")
    missing = [c.zh for c in columns_of(kind) if c.required and c.key not in columns]
    if missing:
        expected = "、".join(f"{c.zh}（{c.key}）" for c in columns_of(kind))
        raise UnreadableFile(f"缺少必填列：{'、'.join(missing)}。{KIND_ZH[kind]}名册的列为："
                             f"{expected}；第一行应是表头。")
    body: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(rows, start=header_row + 1):
        values = [cell_text(v) for v in raw]
        if not any(values):
            continue
        if len(body) >= MAX_ROWS:
            raise UnreadableFile(f"文件超过 {MAX_ROWS} 行，请拆分后分批导入。")
        body.append((number, values))
    return Table(header_row, columns, ignored, body)


# --- checking the rows ------------------------------------------------------------------------

@dataclass
class Known:
    """What references may name besides the rows of the file: the registry's stations and
    terms (id -> name); a value may give a record's id or its name (a unique one)."""

    stations: Mapping[str, str] = field(default_factory=dict)
    terms: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Problem:
    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        # ``msg`` too: the shape shared/API.md names for an import's errors
        return {"row": self.row, "column": self.column, "message": self.message,
                "msg": self.message}


@dataclass
class Checked:
    """A file checked: the valid rows' records (by row), every problem, the rows read."""

    kind: str
    rows: int
    records: list[dict[str, Any]]
    problems: list[Problem]
    columns: list[str]  # the record fields the file carries
    ignored: list[str] = field(default_factory=list)
    record_rows: list[int] = field(default_factory=list)  # each record's row number
    headers: dict[str, str] = field(default_factory=dict)  # field -> its header in the file

    @property
    def ok(self) -> bool:
        return not self.problems


def _resolver(records: Mapping[str, str]) -> dict[str, str | None]:
    """A reference's value -> the id it names: an id, or a name only one record has (None:
    a name several records share)."""
    found: dict[str, str | None] = {}
    for key, name in records.items():
        if name:
            found[name] = None if name in found and found[name] != key else key
    found.update({key: key for key in records})
    return found


def split_list(text: str) -> list[str]:
    items: list[str] = []
    for item in LIST_SEPARATORS.split(text):
        item = item.strip()
        if item and item not in items:
            items.append(item)
    return items


def check(kind: str, data: bytes, known: Known | None = None) -> Checked:
    """Read and check a roster file; UnreadableFile when it cannot be imported at all."""
    table = read_table(kind, data)
    return check_table(kind, table, known or Known())


def check_table(kind: str, table: Table, known: Known) -> Checked:
    known_refs = {"station": _resolver(dict(known.stations)),
                  "terms": _resolver(dict(known.terms))}
    ref_zh = {"station": "联络站", "terms": "届次"}
    problems: list[Problem] = []
    records: list[dict[str, Any]] = []
    record_rows: list[int] = []

    def resolved(column: Column, text: str) -> str | None:
        """The id a reference names, or None after telling the problem."""
        found = known_refs[column.key].get(text, "")
        if found is None:
            problem(column, f"{ref_zh[column.key]}名称“{text}”不唯一，请填写编号")
        elif not found:
            problem(column, f"{ref_zh[column.key]}“{text}”不存在（系统中没有此"
                            f"{ref_zh[column.key]}）")
        return found or None
    first_row_of: dict[str, int] = {}
    present = [c for c in columns_of(kind) if c.key in table.columns]
    for number, values in table.rows:
        record: dict[str, Any] = {}
        row_ok = True

        def problem(column: Column, message: str) -> None:
            nonlocal row_ok
            row_ok = False
            problems.append(Problem(number, table.columns[column.key][1], message))

        for column in present:
            i = table.columns[column.key][0]
            text = values[i] if i < len(values) else ""
            if not text:
                if column.required:
                    problem(column, f"{column.zh}不能为空")
                    continue
                record[column.key] = [] if column.is_list else ""
                continue
            if column.is_list:
                items = split_list(text)
                if len(items) > LIST_MAX:
                    problem(column, f"{column.zh}最多 {LIST_MAX} 项")
                    continue
                if any(len(item) > TEXT_MAX for item in items):
                    problem(column, f"{column.zh}的每一项不能超过 {TEXT_MAX} 个字")
                    continue
                if column.key in known_refs:
                    ids = [resolved(column, item) for item in items]
                    if None in ids:
                        continue
                    items = list(dict.fromkeys(i for i in ids if i))
                record[column.key] = items
                continue
            if len(text) > column.max_length:
                problem(column, f"{column.zh}不能超过 {column.max_length} 个字"
                                f"（现为 {len(text)} 个）")
                continue
            if column.key == "id":
                if not KEY.match(text):
                    problem(column, f"{column.zh}“{text}”无效：应为 1 到 64 个字母、数字或"
                                    " . _ : -，以字母或数字开头")
                    continue
                if text in first_row_of:
                    problem(column, f"{column.zh}“{text}”在文件中重复"
                                    f"（第 {first_row_of[text]} 行已有）")
                    continue
                first_row_of[text] = number
            elif column.key == "level":
                code = LEVEL_OF.get(text) or LEVEL_OF.get(text.lower())
                if code is None:
                    problem(column, f"层级“{text}”无效，应为 国家、省、市、县、乡"
                                    "（或 national、provincial、municipal、district、township）之一")
                    continue
                record["level"] = code
                # the label as written (县, 区...), or the code's own
                record["level_zh"] = text if text.lower() not in LEVELS else LEVELS[code]
                continue
            elif column.key == "phone":
                compact = re.sub(r"[\s()（）]", "", text)
                if not PHONE.match(compact):
                    problem(column, f"电话“{text}”格式不对：应为 11 位手机号或带区号的固定电话"
                                    "（如 023-56550101）")
                    continue
                text = compact
            elif column.key in known_refs:
                found = resolved(column, text)
                if found is None:
                    continue
                text = found
            record[column.key] = text
        if row_ok:
            records.append(record)
            record_rows.append(number)
    return Checked(kind=kind, rows=len(table.rows), records=records, problems=problems,
                   columns=[c.key for c in present] + (["level_zh"] if any(
                       c.key == "level" for c in present) else []),
                   ignored=table.ignored, record_rows=record_rows,
                   headers={k: text for k, (_, text) in table.columns.items()})


# --- what an import would do -------------------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    empty = (None, "", [], ())
    if a in empty and b in empty:
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def merged(existing: Mapping[str, Any] | None, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record after the import: the existing one with the file's fields over it."""
    return {**(existing or {}), **record}


def differs(existing: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether the file's fields change the existing record (an empty value and a missing
    field are the same)."""
    return any(not _same(existing.get(k), v) for k, v in record.items())


@dataclass
class Plan:
    create: list[dict[str, Any]]
    change: list[dict[str, Any]]  # whole records after the change
    unchanged: int

    @property
    def records(self) -> list[dict[str, Any]]:
        """What to save: the new records and the changed ones."""
        return [*self.create, *self.change]


Canonical = Callable[[dict[str, Any]], dict[str, Any]]


def compare(checked: Checked, existing: Mapping[str, Mapping[str, Any]],
            canonical: Canonical | None = None) -> Plan:
    """Sort the checked records into those to create, to change (the whole record after the
    change: the existing one with the file's fields over it) and those that change nothing,
    against the existing records by key. ``canonical``: the registry's shape of a record
    (existing records are in it); a record it refuses (a ValueError, with ``errors``:
    ``[{field, msg}]`` when it can tell) becomes a problem of its row."""
    create: list[dict[str, Any]] = []
    change: list[dict[str, Any]] = []
    unchanged = 0
    rows = checked.record_rows or list(range(len(checked.records)))
    for number, record in zip(rows, checked.records):
        before = existing.get(record["id"])
        after = merged(before, record)
        if canonical is not None:
            try:
                after = canonical(after)
            except ValueError as exc:
                for e in getattr(exc, "errors", None) or [{"field": "", "msg": str(exc)}]:
                    field_ = str(e.get("field", ""))
                    checked.problems.append(Problem(
                        number, checked.headers.get(field_, field_), str(e.get("msg", ""))))
                continue
        if before is None:
            create.append(after)
        elif (after != before) if canonical is not None else differs(before, record):
            change.append(after)
        else:
            unchanged += 1
    return Plan(create, change, unchanged)


def report(checked: Checked, plan: Plan | None = None, *,
           max_errors: int = MAX_ERRORS) -> dict[str, Any]:
    """The answer of a dry run or an import (at most ``max_errors`` problems listed;
    ``error_count`` counts every one). ``created`` / ``updated`` (shared/API.md) stay 0
    until the import is applied."""
    listed = sorted(checked.problems, key=lambda p: p.row)[:max_errors]
    return {
        "kind": checked.kind,
        "rows": checked.rows,
        "errors": [p.as_dict() for p in listed],
        "error_count": len(checked.problems),
        "errors_truncated": len(checked.problems) > len(listed),
        "would_create": len(plan.create) if plan else 0,
        "would_change": len(plan.change) if plan else 0,
        "unchanged": plan.unchanged if plan else 0,
        "ignored_columns": list(checked.ignored),
        "created": 0,
        "updated": 0,
        "applied": False,
    }


def refused(kind: str, exc: UnreadableFile) -> dict[str, Any]:
    """The report of a file that cannot be imported at all (one problem, on row 1)."""
    problem = Problem(1, "", exc.message_zh)
    return report(Checked(kind=kind, rows=0, records=[], problems=[problem], columns=[]))

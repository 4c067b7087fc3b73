"""The services' refusals in Chinese for the web pages.

The services answer in English for the API (``detail``, ``errors[].msg``, close-out's
``missing[].item``); a page never shows that text. Known refusals are translated by
pattern; anything else is said by its kind (the HTTP status) in Chinese, so no English
reaches a page even for a message added later to a service."""

from __future__ import annotations

import re
from typing import Any

FIELD_ZH = {
    "commitment_date": "承诺解决日期", "text": "内容", "note": "说明", "reason": "理由",
    "rating": "评价", "comment": "意见", "title": "标题", "body": "正文", "category": "类别",
    "co_signers": "联名代表", "lead_unit_id": "主办单位", "co_unit_ids": "协办单位",
    "deadline": "办理时限", "unit_id": "单位", "urgency": "紧急程度", "result_class": "答复类别",
    "content": "内容", "into": "并入的建议", "period": "期间", "designee_id": "领办领导",
    "designee_kind": "领办类型", "date": "日期", "kind": "类型", "description": "说明",
    "outcome": "结果", "summary": "摘要", "q": "搜索词", "limit": "每页条数",
}

MISSING_ZH = {"reply": "主办单位尚未答复", "rating": "尚有代表未评价（评价期未满）",
              "follow_up_review": "回头看已到期，尚未记录结果",
              "reply_letter": "主办单位尚未上传答复函（加盖公章的扫描件）"}

# (pattern of the English text, Chinese); the first that matches wins.
PATTERNS: list[tuple[str, str]] = [
    # liaison (reception sessions and contact obligations)
    (r"every place of this session is booked", "本场接待名额已满"),
    (r"this phone has already booked", "该手机号已预约本场接待"),
    (r"this session is over", "本场接待已结束，不能预约"),
    (r"attendance is already recorded", "本场接待的出勤已经登记过"),
    (r"station staff (act|record messages) .*own station", "联络站工作人员只能办理本站的事务"),
    (r"recorded by the parties of the obligation", "只有联系双方或代表工委可以登记联系"),
    (r"a counterpart records only their own contacts", "只能登记与本人有关的联系"),
    (r"recorded once it took place", "联系日期不能晚于今天"),
    (r"is not one of this obligation's people", "该联系对象不在此联系任务中"),
    (r"a session ends after it starts", "结束时间须晚于开始时间"),
    (r"unknown deputies", "有不认识的代表"),
    # liaison (deputy groups' activities and research)
    (r"a group activity is for the deputies of its group", "这是其他代表小组的活动"),
    (r"findings are recorded by a participant present", "只有参加活动的代表或代表工委可以登记调研成果"),
    (r"this deputy has already signed up", "您已经报名"),
    (r"this deputy has not signed up", "您尚未报名"),
    (r"every place of this activity is taken", "本次活动名额已满"),
    (r"sign-ups close the day before", "活动当天起不能再报名或取消报名"),
    (r"this activity's attendance is already recorded", "本次活动的出勤已经登记过"),
    (r"attendance is recorded on or after", "活动当天或之后才能登记出勤"),
    (r"not deputies of", "所选代表不属于本小组"),
    (r"only a research activity", "只有专题调研可以登记调研成果"),
    (r"findings are recorded once the activity took place", "活动登记出勤后才能登记调研成果"),
    (r"already became (\(or are becoming\) )?a suggestion", "调研成果已经转为代表建议"),
    (r"record the findings before", "请先登记调研成果"),
    (r"the lead deputy is one of the participants present", "领衔代表须是参加了活动的代表"),
    (r"no deputy group", "代表小组不存在"),
    (r"commitment_date is required", "B 类答复须填写承诺解决日期"),
    (r"未找到该附件", "未找到该附件，请重新上传文件"),
    (r"不支持的文件类型", "不支持的文件类型：只能上传扫描件、照片、文字文档或电子表格"),
    (r"no file can be attached", "案件已办结或个人信息已删除，不能再上传附件"),
    (r"reply letter \(答复函\)", "尚未上传答复函"),
    (r"commitment date is in the past", "承诺解决日期不能早于今天"),
    (r"contact the deputy before replying", "答复前须先与代表沟通（办前联系）：请先记录沟通情况"),
    (r"already replied to in round", "本轮已经答复"),
    (r"already signed for", "任务已签收"),
    (r"co-handling opinion was already sent", "协办意见已提交"),
    (r"only a co-handling unit sends an opinion", "只有协办单位提交协办意见，主办单位直接答复"),
    (r"co-handling unit does not reply", "协办单位不答复代表，请将意见提交主办单位"),
    (r"task was withdrawn", "任务已撤回，不能再办理"),
    (r"the case is closed; ratings are final", "案件已办结，评价不能再更改"),
    (r"the case is closed", "案件已办结"),
    (r"is not a deputy of this suggestion", "您不是这件建议的代表"),
    (r"no reply to rate", "本轮尚无答复可评价（正在重新办理）"),
    (r"already rated round", "本轮您已评价"),
    (r"cannot be closed out yet", "尚不能办结销号"),
    (r"already assigned", "已经交办"),
    (r"assigned meanwhile|changed meanwhile", "数据已被他人修改，请刷新后重试"),
    (r"no routing rule proposes a unit", "没有可用的交办规则，请选择主办单位"),
    (r"not a working day", "所选日期不是工作日"),
    (r"deadline must be after", "办理时限须晚于交办日"),
    (r"merged into itself", "不能并入自身"),
    (r"other suggestions are merged into this one", "有其他建议并入本建议，请先撤销这些并案"),
    (r"already replied: a registration", "承办单位已答复，不能撤销立案"),
    (r"another deputy holds this message", "这条留言已被其他代表认领"),
    (r"already hold this message", "您已认领这条留言"),
    (r"claim it first", "请先认领这条留言"),
    (r"already rated", "已经评价过"),
    (r"personal data is already erased", "个人信息已删除"),
    (r"was already revoked by line", "这条积分已经撤销过"),
    (r"is not an award line", "只有加分记录可以撤销"),
    (r"a revocation needs a reason", "撤销积分须写明理由"),
    (r"content is erased", "留言内容已删除，不能转为建议"),
    (r"unknown category", "类别不存在"),
    (r"unknown unit", "单位不存在"),
    (r"unknown deputy", "代表不存在"),
    (r"unknown leader or committee", "领导或委员会不存在"),
    (r"not linked to a leader", "您的账号尚未关联领导身份，请联系账号管理员"),
    (r"name the leader or committee", "请选择领导或委员会"),
    (r"suggestion is already (\w+)", "建议已处理"),
    (r"only a (submitted or )?registered suggestion", "只有待审核或已立案的建议可以这样处理"),
    (r"only the office", "此操作仅限代表工委"),
    (r"only a deputy", "此操作仅限人大代表"),
    (r"only the handling unit", "此操作仅限承办单位"),
    (r"the answer of .* is .* bytes", "结果过多，请缩小筛选范围"),
    (r"more than \d+ .* match", "结果过多，请缩小筛选范围"),
    (r"Field required", "必填"),
    (r"at least 1 character|String should have at least", "不能为空"),
    (r"at most \d+ character", "内容过长"),
    (r"Input should be a valid date|Input should be a valid", "格式不正确"),
    (r"Input should be", "取值不在可选范围内"),
    (r"Extra inputs are not permitted", "含有不允许的字段"),
    (r"did not answer within|not running", "服务暂时无法响应，请稍后重试"),
]

BY_STATUS = {400: "请求有误", 401: "请重新登录", 403: "无权进行此操作", 404: "未找到",
             409: "操作与当前状态不符，请刷新后查看", 422: "填写有误，请检查后重试",
             429: "操作过于频繁，请稍后重试", 503: "服务暂时不可用，请稍后重试",
             504: "服务暂时无法响应，请稍后重试"}

_CJK = re.compile(r"[\u4e00-\u9fff]")


def zh(text: Any, status: int | None = None) -> str:
    """One English refusal or validation message in Chinese."""
    value = str(text or "")
    for pattern, chinese in PATTERNS:
        if re.search(pattern, value, re.IGNORECASE):
            return chinese
    if value and _CJK.search(value) and not re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", value):
        return value  # already Chinese
    return BY_STATUS.get(int(status or 0), "操作未完成" if not status or status < 500 else "服务出错，请稍后重试")


def field_zh(loc: list[Any]) -> str:
    names = [FIELD_ZH[str(part)] for part in loc if str(part) in FIELD_ZH]
    return names[-1] if names else ""


def failure_zh(reply: dict[str, Any]) -> tuple[str, list[str]]:
    """A service's refusal as (what happened, the items to fix), all in Chinese."""
    status = int(reply.get("status") or 0)
    detail = zh(reply.get("detail") or reply.get("title"), status)
    items = [MISSING_ZH.get(str(m.get("item")), zh(m.get("detail"), status))
             for m in reply.get("missing") or []]
    if not items:
        for error in reply.get("errors") or []:
            name = field_zh(list(error.get("loc") or []))
            message = zh(error.get("msg"), status)
            items.append(f"{name}：{message}" if name else message)
    seen: set[str] = set()
    unique = []
    for item in items:
        if item not in seen and item != detail:
            seen.add(item)
            unique.append(item)
    return detail, unique

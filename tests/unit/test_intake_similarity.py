"""Similar matters: character-shingle TF-IDF scores over Chinese text, and their quality on a
generated corpus of citizen messages (clusters of paraphrases of the same matter, with
varying wording, place forms and numbers, among unrelated messages)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from dataclasses import dataclass

from services.intake.similarity import DEFAULT_THRESHOLD, SimilarityIndex, normalize

# --- a generated corpus ----------------------------------------------------------------------

# What people write about: an object (with the names people give it), its faults and what
# the fault does. A matter is one fault of one object at one place.
OBJECTS = [
    (["路灯", "照明路灯", "小区路灯"], ["路灯长期不亮", "路灯坏了", "路灯一到晚上就闪"],
     ["晚上一片漆黑", "夜里出门很不安全", "老人晚上不敢出门"]),
    (["井盖", "窨井盖", "下水井盖"], ["井盖破损塌陷", "井盖丢失留下大坑", "井盖松动翘起"],
     ["电动车经过容易摔倒", "孩子差点掉进去", "车辆压过去哐哐响"]),
    (["垃圾", "生活垃圾", "垃圾桶"], ["垃圾没人清运", "垃圾桶满了溢出来", "垃圾乱堆乱放"],
     ["臭气熏天", "招来很多苍蝇老鼠", "夏天味道很难闻"]),
    (["电梯", "单元电梯", "老旧电梯"], ["电梯经常故障停运", "电梯运行时异响还关人", "电梯年久失修"],
     ["高层老人上下楼困难", "有人被困在里面", "物业一直推脱"]),
    (["下水道", "排水管道", "污水管"], ["下水道堵塞冒水", "排水管道反味", "污水管破裂渗漏"],
     ["污水漫到路面", "一楼住户家里进水", "一下雨就积水"]),
    (["公交站台", "公交车站", "候车亭"], ["公交站台没有遮雨棚", "候车亭顶棚破了", "站台座椅坏了"],
     ["乘客只能淋雨等车", "下雨漏水", "老人候车只能站着"]),
    (["广场舞音响", "广场舞", "跳舞的音响"], ["广场舞声音太大", "广场舞音响噪音扰民", "跳舞的音响放到很晚"],
     ["居民无法休息", "孩子没法写作业", "病人睡不着觉"]),
    (["充电桩", "电动车充电桩", "充电设施"], ["充电桩太少不够用", "充电桩损坏", "充电设施没人维修"],
     ["电动车只能飞线充电", "楼道里私拉电线充电", "存在火灾隐患"]),
    (["健身器材", "健身设施", "运动器材"], ["健身器材老化损坏", "健身器材生锈断裂", "运动器材坏了没人管"],
     ["孩子玩的时候差点受伤", "老人没法锻炼", "存在安全隐患"]),
    (["红绿灯", "信号灯", "交通信号灯"], ["红绿灯时间太短", "信号灯坏了", "信号灯配时不合理"],
     ["行人过不了马路", "路口车辆乱行", "早高峰排长队"]),
    (["人行道", "人行道砖", "步行道"], ["人行道破损不平", "人行道被车辆占用", "人行道坑洼积水"],
     ["老人走路摔倒", "行人只能走机动车道", "推婴儿车很不方便"]),
    (["停车位", "车位", "小区停车"], ["停车位严重不足", "车位被僵尸车占用", "停车位被地锁占了"],
     ["晚上回来找不到位置", "车辆只能停在路边", "邻里经常为停车吵架"]),
    (["自来水", "供水", "水压"], ["自来水水压太低", "经常停水", "自来水发黄有异味"],
     ["高层用不上水", "做饭洗澡都受影响", "不敢直接饮用"]),
    (["消防通道", "消防车通道", "楼道"], ["消防通道被车辆堵塞", "楼道堆满杂物", "消防通道被地锁占用"],
     ["着火了消防车进不来", "存在严重安全隐患", "物业劝说无效"]),
    (["流浪狗", "流浪犬", "野狗"], ["流浪狗成群出没", "流浪狗晚上乱叫还追人", "野狗越来越多"],
     ["已经有人被咬伤", "孩子被吓哭", "晚上吵得睡不着"]),
    (["外墙瓷砖", "外墙砖", "楼外墙"], ["外墙瓷砖脱落", "外墙砖空鼓掉落", "楼外墙有脱落风险"],
     ["砸坏了楼下的车", "差点砸到行人", "楼下走路提心吊胆"]),
    (["菜市场", "农贸市场", "菜场"], ["菜市场污水横流", "农贸市场周边占道经营", "菜场卫生很差"],
     ["路过要踮着脚走", "道路拥堵", "蚊蝇滋生"]),
    (["学校门口", "校门口", "小学门口"], ["学校门口上下学拥堵", "校门口没有减速带", "校门口缺少护学岗"],
     ["接送车辆堵成一片", "车辆车速很快很危险", "学生过马路不安全"]),
    (["老旧小区改造", "旧改工程", "小区改造"], ["老旧小区改造施工拖期", "改造工程进度太慢", "改造停工没人管"],
     ["脚手架一直不拆", "道路挖开没人填", "居民出行很不方便"]),
    (["工地施工", "夜间施工", "建筑工地"], ["工地夜间施工打桩", "夜间施工噪音扰民", "工地渣土车半夜进出"],
     ["居民整夜睡不着", "扬尘很大", "路面全是泥土"]),
    (["行道树", "绿化带树木", "大树"], ["行道树枝叶遮挡窗户", "大树倒伏没人处理", "树木长期不修剪"],
     ["低层住户采光很差", "挡住路口视线", "刮风时担心砸到人"]),
    (["化粪池", "小区化粪池", "粪池"], ["化粪池满溢", "化粪池冒出污水", "化粪池堵塞外溢"],
     ["臭味影响整栋楼", "一楼住户进了污水", "夏天蚊虫很多"]),
    (["违章搭建", "违建", "私搭乱建"], ["有人违章搭建彩钢房", "楼顶私搭乱建", "违建占用公共绿地"],
     ["影响邻居采光", "存在安全隐患", "占用公共空间"]),
    (["社区食堂", "老年食堂", "助餐点"], ["社区食堂开了不久就关门", "老年食堂饭菜太贵", "助餐点离家太远"],
     ["老人吃饭没有着落", "老人吃不起", "腿脚不便的老人去不了"]),
]
DETAILS = ["已经{n}个多月了", "有{n}天了", "反映了{n}次都没人管", "前后{n}周了",
           "涉及{n}户居民", "今年已经第{n}次了", "{n}栋楼都受影响", "找过物业{n}次"]

PLACE_HEADS = list("幸阳翠金梧兴和锦龙春桂枫嘉华清荷湖兰松竹明盛泰康瑞祥安丰德福")
PLACE_TAILS = list("园苑城庭湾府居院里庄")
PLACE_KINDS = ["小区", "社区", "花园", "家园", "新村"]
ROADS = list("东西南北中") 
OPENERS = ["", "", "居民反映：", "我是附近的居民，", "您好，", "反映一个问题：", "代表您好，",
           "我们", "我家住在附近，"]
CLOSERS = ["", "希望尽快解决。", "请有关部门尽快处理。", "盼复。", "希望相关部门重视。",
           "谢谢！", "麻烦代表帮忙反映一下。", "请尽快安排维修。"]
CHINESE_NUMBERS = "零一二三四五六七八九十"


def say_number(rng: random.Random, n: int) -> str:
    if n <= 10 and rng.random() < 0.5:
        return CHINESE_NUMBERS[n]
    return str(n)


# Where exactly: a building, a gate, or a named shop or school nearby.
LANDMARKS = ["{b}号楼", "{b}栋", "{b}单元", "东门", "西门", "南门口", "北门", "地下车库入口",
             "中心花园", "小广场"]
SHOPS = ["超市", "幼儿园", "药店", "菜鸟驿站", "银行", "诊所", "小学", "面馆", "理发店", "快递站"]


def new_landmark(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(LANDMARKS).format(b=rng.randint(1, 30))
    return rng.choice(PLACE_HEADS) + rng.choice(PLACE_HEADS) + rng.choice(SHOPS) + "旁边"


@dataclass
class Place:
    name: str  # 幸阳园
    kind: str  # 小区
    road: str  # 幸阳东路
    number: int  # on the road
    landmark: str  # 3号楼, 东门 ...

    def say(self, rng: random.Random) -> str:
        """The same place as different people name it."""
        return rng.choice([
            f"{self.name}{self.kind}",
            f"{self.name}{self.kind}{self.landmark}",
            f"{self.name}{self.landmark}",
            f"{self.road}{self.name}{self.kind}",
            f"{self.road}{self.number}号{self.name}{self.landmark}",
            f"{self.name}{self.kind}{self.landmark}附近",
        ])


def new_place(rng: random.Random, used: set[str]) -> Place:
    while True:
        name = rng.choice(PLACE_HEADS) + rng.choice(PLACE_HEADS) + rng.choice(PLACE_TAILS)
        if name not in used and name[0] != name[1]:
            used.add(name)
            road = rng.choice(PLACE_HEADS) + rng.choice(PLACE_HEADS) + rng.choice(ROADS) + "路"
            return Place(name, rng.choice(PLACE_KINDS), road, rng.randint(1, 300),
                         new_landmark(rng))


# Words people use for the same thing: each is swapped, or not, in each message.
SYNONYMS = [("坏了", "损坏了"), ("长期", "一直"), ("很", "非常"), ("没人", "无人"), ("晚上", "夜里"),
            ("老人", "老年人"), ("孩子", "小孩"), ("居民", "住户"), ("车辆", "汽车"), ("经常", "总是"),
            ("太", "过于"), ("存在", "有"), ("不安全", "危险"), ("影响", "干扰"), ("一下雨", "下雨天"),
            ("没有", "缺少")]


@dataclass
class Matter:
    """One fault of one object at one place, what it does there, and how its reporter
    described it (which detail, in which order)."""
    obj: int
    fault: int
    effect: int
    detail: int
    shape: int
    place: Place


def reword(rng: random.Random, text: str, p: float = 0.3) -> str:
    for a, b in SYNONYMS:
        if rng.random() < p:
            text = text.replace(a, b)
    return text


def say(rng: random.Random, m: Matter) -> str:
    """One citizen's words for a matter: the place in one of its forms, synonyms swapped, the
    detail with a number of their own, often the clauses in another order, a greeting and a
    closing of their own."""
    names, faults, effects = OBJECTS[m.obj]
    detail = DETAILS[m.detail].format(n=say_number(rng, rng.randint(2, 12)))
    where = m.place.say(rng)
    fault, effect = reword(rng, faults[m.fault]), reword(rng, effects[m.effect])
    shapes = [f"{where}{fault}，{detail}，{effect}",
              f"{where}的{fault}，{effect}，{detail}",
              f"{fault}，{detail}，地点在{where}，{effect}",
              f"{names[0]}的问题：{where}{fault}，{effect}，{detail}"]
    shape = m.shape if rng.random() < 0.5 else rng.randrange(len(shapes))
    return rng.choice(OPENERS) + shapes[shape] + "，" + rng.choice(CLOSERS)


def generate_corpus(total: int = 1000, seed: int = 20260302,
                    unrelated: int = 150) -> list[tuple[str, int]]:
    """(text, matter id) pairs in arrival order: clusters of 8–30 paraphrases of one matter
    each (every cluster a different fault, at its own place), and ``unrelated`` single
    messages about random matters at places of their own (some of them the same fault as a
    cluster's, elsewhere: a different matter)."""
    rng = random.Random(seed)
    used: set[str] = set()
    faults = [(o, f) for o in range(len(OBJECTS)) for f in range(len(OBJECTS[o][1]))]
    rng.shuffle(faults)

    def new_matter(obj: int, fault: int) -> Matter:
        return Matter(obj, fault, rng.randrange(len(OBJECTS[obj][2])), rng.randrange(len(DETAILS)),
                      rng.randrange(4), new_place(rng, used))

    items: list[tuple[str, int]] = []
    matter_id = 0
    while len(items) < total - unrelated:
        matter = new_matter(*faults[matter_id % len(faults)])
        items.extend((say(rng, matter), matter_id) for _ in range(rng.randint(8, 30)))
        matter_id += 1
    items = items[: total - unrelated]
    while len(items) < total:
        obj = rng.randrange(len(OBJECTS))
        items.append((say(rng, new_matter(obj, rng.randrange(len(OBJECTS[obj][1])))), matter_id))
        matter_id += 1
    rng.shuffle(items)
    return items


def precision_recall(index: SimilarityIndex, ids: list[str], truth: dict[str, int],
                     threshold: float) -> tuple[float, float]:
    """Pairwise precision and recall of "earlier and similar" over the whole corpus."""
    tp = fp = fn = 0
    for i, doc_id in enumerate(ids):
        found = {r["id"] for r in index.similar(doc_id, threshold=threshold, limit=len(ids))}
        expected = {o for o in ids[:i] if truth[o] == truth[doc_id]}
        tp += len(found & expected)
        fp += len(found - expected)
        fn += len(expected - found)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


# --- tests -----------------------------------------------------------------------------------

def test_normalisation_ignores_width_case_punctuation_and_spaces():
    assert normalize("小区 路灯，不亮！ＡＢ１２") == "小区路灯不亮ab12"


def test_paraphrases_score_higher_than_unrelated_text():
    index = SimilarityIndex()
    index.add("a", "message", "幸福小区3号楼的路灯坏了两个月，晚上一片漆黑，希望尽快修复。", 1)
    index.add("b", "message", "阳光花园东门垃圾堆了五天没人清运，臭气熏天。", 2)
    index.add("c", "message", "学校门口上下学拥堵，接送车辆堵成一片。", 3)
    index.add("d", "suggestion", "幸福小区路灯\n幸福小区3号楼路灯坏了，晚上一片漆黑，三个月了", 4,
              label="幸福小区路灯")
    found = index.similar("d")
    assert [r["id"] for r in found] == ["a"]
    assert found[0]["kind"] == "message" and "excerpt" in found[0] and 0 < found[0]["score"] <= 1
    assert index.score("d", "a") > index.score("d", "b")
    assert index.score("a", "a") == pytest.approx(1.0)


def test_only_earlier_open_documents_are_similar():
    index = SimilarityIndex()
    text = "幸福小区3号楼的路灯坏了两个月，晚上一片漆黑"
    index.add("first", "message", text, 1)
    index.add("closed", "suggestion", text, 2)
    index.add("me", "suggestion", text, 3)
    index.add("later", "message", text, 4)
    index.set_open("closed", False)
    assert [r["id"] for r in index.similar("me", threshold=0.0)] == ["first"]
    index.set_open("closed", True)
    assert [r["id"] for r in index.similar("me")] == ["first", "closed"]  # same score: earlier first
    index.remove("first")
    assert [r["id"] for r in index.similar("me")] == ["closed"]
    assert "first" not in index and index.similar("nobody") == []


def test_precision_and_recall_over_1000_generated_messages():
    corpus = generate_corpus(1000)
    assert len(corpus) == 1000 and len({m for _, m in corpus}) > 150
    index = SimilarityIndex()
    ids, truth = [], {}
    for position, (text, matter) in enumerate(corpus):
        doc_id = f"m{position}"
        index.add(doc_id, "message", text, position)
        ids.append(doc_id)
        truth[doc_id] = matter
    precision, recall = precision_recall(index, ids, truth, DEFAULT_THRESHOLD)
    assert precision > 0.9 and recall > 0.9, (precision, recall)


# --- hand-written messages from one station ---------------------------------------------------

STATION_CORPUS = Path(__file__).parent.parent / "data" / "one_station_messages.tsv"


def station_corpus() -> list[dict[str, str]]:
    """1000 messages written by hand for one liaison station (城东街道): 950 distinct matters
    over 16 places and 55 topics, and 50 near-duplicates, each a different citizen's own
    wording of an earlier message (same place and problem; no clause copied)."""
    with STATION_CORPUS.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_the_station_corpus_is_what_it_claims():
    rows = station_corpus()
    ids = [r["id"] for r in rows]
    duplicates = {r["id"]: r["duplicate_of"] for r in rows if r["duplicate_of"]}
    assert len(rows) == 1000 and len(set(ids)) == 1000 and len(duplicates) == 50
    assert len(set(duplicates.values())) == 50 and len({r["text"] for r in rows}) == 1000
    for dup, original in duplicates.items():
        assert ids.index(original) < ids.index(dup) and original not in duplicates


def test_near_duplicates_among_1000_station_messages_rank_their_original_first():
    """What the office sees: among all earlier open matters, the message a near-duplicate
    restates is the first proposal, for at least 48 of the 50."""
    rows = station_corpus()
    index = SimilarityIndex()
    for position, row in enumerate(rows):
        index.add(row["id"], "message", row["text"], position)
    ranked_first = 0
    for row in rows:
        if row["duplicate_of"]:
            found = index.similar(row["id"], threshold=0.0, limit=3)
            ranked_first += bool(found) and found[0]["id"] == row["duplicate_of"]
    assert ranked_first >= 48, ranked_first


def test_precision_and_recall_of_near_duplicates_among_1000_station_messages():
    """The issue's check at the default threshold: every earlier matter scoring at least the
    threshold is a proposal. Freely reworded duplicates share few character runs with their
    original (some under 0.1 in cosine) while distinct matters at one station share places and
    topics (up to 0.34), so no single threshold reaches the issue's 0.9 here. Measured: at 0.20,
    precision 0.52 and recall 0.22; at the default 0.30, recall 0.02. This guards that level
    against regressions; it is not the issue's target (see the README, "Similar matters")."""
    rows = station_corpus()
    index = SimilarityIndex()
    ids, truth = [], {}
    for position, row in enumerate(rows):
        index.add(row["id"], "message", row["text"], position)
        ids.append(row["id"])
        truth[row["id"]] = row["duplicate_of"] or row["id"]
    precision, recall = precision_recall(index, ids, truth, threshold=0.20)
    assert precision >= 0.5 and recall >= 0.2, (precision, recall)


def test_texts_queued_for_shingling_behave_as_if_shingled_at_once():
    """add() only queues a text (shingled in one batch on the next read or flush): a document
    removed, closed or replaced while queued leaves the same index as if done one by one."""
    texts = {"a": "幸福小区3号楼的路灯坏了两个月，晚上一片漆黑，希望尽快修复。",
             "b": "阳光花园东门垃圾堆了五天没人清运，臭气熏天。",
             "c": "幸福小区3号楼路灯坏了，晚上一片漆黑，三个月了。",
             "d": "学校门口上下学拥堵，接送车辆堵成一片。"}
    queued = SimilarityIndex(threshold=0.0)
    for position, (doc_id, text) in enumerate(texts.items()):
        queued.add(doc_id, "message", text, position)
    queued.add("gone", "message", texts["a"], 10)
    queued.remove("gone")  # removed before it was ever shingled
    queued.add("b", "message", texts["d"], 1)  # replaced while queued
    queued.set_open("d", False)
    eager = SimilarityIndex(threshold=0.0)
    for position, doc_id in enumerate(texts):
        eager.add(doc_id, "message", texts["d" if doc_id == "b" else doc_id], position)
        eager.flush()
    eager.set_open("d", False)
    assert queued.similar("c") == eager.similar("c")
    assert [r["id"] for r in queued.similar("c")][0] == "a" and "gone" not in queued
    assert queued.score("b", "d") == pytest.approx(1.0)
    assert queued.score("a", "c") == pytest.approx(eager.score("a", "c"))


# --- by meaning and characters (services/intake/similar_matters.py) --------------------------


def _ranked_index(texts: list[tuple[str, str]]):
    from services.intake.encoder import get_encoder
    from services.intake.similar_matters import MatterIndex, Shingler

    encoder = get_encoder()
    vectors = encoder.encode([t for _, t in texts])
    features = Shingler(b"test key").features([t for _, t in texts])
    index = MatterIndex(encoder.dim)
    for position, ((doc_id, _), v, f) in enumerate(zip(texts, vectors, features)):
        index.put(doc_id, "message", position, "open", v, f, position)
    by_id = {doc_id: f for (doc_id, _), f in zip(texts, features)}
    return index, (lambda ids: {i: by_id[i] for i in ids if i in by_id})


def test_near_duplicates_among_1000_station_messages_rank_first_by_meaning_too():
    """The station corpus through the combined ranking the service uses: the original is the
    first of the 5 candidates for at least 48 of the 50 near-duplicates (measured: 50)."""
    from services.intake.similar_matters import rank

    rows = station_corpus()
    index, features_of = _ranked_index([(r["id"], r["text"]) for r in rows])
    first = 0
    for row in rows:
        if row["duplicate_of"]:
            found = rank(index, row["id"], features_of)
            assert len(found) == 5
            first += found[0].id == row["duplicate_of"]
    assert first >= 48, first


def test_candidates_are_earlier_shown_statuses_only_best_first():
    from services.intake.similar_matters import rank

    texts = [("lamp", "幸福小区3号楼的路灯坏了两个月，晚上一片漆黑，希望尽快修复。"),
             ("closed", "幸福小区3号楼路灯坏了，晚上一片漆黑，三个月了。"),
             ("declined", "幸福小区3号楼的路灯坏了两个月，晚上一片漆黑。"),
             ("rubbish", "阳光花园东门垃圾堆了五天没人清运，臭气熏天。"),
             ("me", "幸福小区三号楼前面那盏灯一直不亮，天一黑啥也看不见。"),
             ("later", "幸福小区3号楼的路灯坏了两个月，晚上一片漆黑，希望尽快修复。")]
    index, features_of = _ranked_index(texts)
    v = index.vector("closed")
    index.put("closed", "suggestion", 1, "closed", v, None, 1)
    index.put("declined", "suggestion", 2, "declined", index.vector("declined"), None, 2)
    found = rank(index, "me", features_of, limit=5)
    assert [c.id for c in found][-1] == "rubbish"
    assert {c.id for c in found} == {"lamp", "closed", "rubbish"}
    assert {c.id: c.status for c in found}["closed"] == "closed"
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert [c.id for c in rank(index, "me", features_of, limit=1)] == [found[0].id]
    assert rank(index, "me", features_of, exclude={"lamp", "closed"})[0].id == "rubbish"
    index.put("lamp", "message", 0, "open", None, None)  # erased
    assert "lamp" not in [c.id for c in rank(index, "me", features_of)]
    assert rank(index, "nobody", features_of) == [] and rank(index, "lamp", features_of) == []

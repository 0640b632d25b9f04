"""Calibrate the semantic threshold for serving a curated answer: `python -m assistant.review.calibrate`.

Three kinds of question pairs (enterprise-style questions, written for this purpose; no policy
text): paraphrases (the curated answer should be served), near misses (same topic, a different
ask: it must not be served) and unrelated questions. It prints the cosine similarity of each kind
under the configured model, after the same normalisation and guard `curated.py` applies, and the
threshold that serves no near miss. The figures and the chosen value are in curated.py's docstring.
"""

from __future__ import annotations

import sys

import numpy as np

from assistant.review.curated import figures_agree, normalize_question

PARAPHRASES = [
    ("天津布局建设了多少家概念验证平台？", "天津一共建了几家概念验证平台？"),
    ("天津在中试平台建设方面开展了哪些工作？", "天津市推进中试平台建设做了哪些工作？"),
    ("中试平台建设下一步有什么安排？", "中试平台建设接下来有哪些工作计划？"),
    ("全市累计有多少家科技企业孵化器？", "天津现在一共有几家科技企业孵化器？"),
    ("科技保险提供了多少风险保障？", "科技保险的风险保障金额是多少？"),
    ("科技担保余额是多少？", "截至目前科技担保余额有多少？"),
    ("天津设置了多少名服务专员？", "校企对接的服务专员有多少名？"),
    ("高新技术企业认定需要满足哪些条件？", "申请认定高新技术企业要具备什么条件？"),
    ("小微企业可以享受哪些税收优惠？", "小型微利企业有什么税收优惠政策？"),
    ("研发费用加计扣除的比例是多少？", "研发费用可以按多大比例加计扣除？"),
    ("如何申请稳岗补贴？", "稳岗补贴怎么申请？"),
    ("专精特新企业申报需要什么材料？", "申报专精特新中小企业要准备哪些材料？"),
    ("技术合同登记在哪里办理？", "去哪里办理技术合同认定登记？"),
    ("中试平台项目需要进行节能审查吗？", "中试平台项目要不要做节能审查？"),
    ("科技型上市企业有多少家？", "天津全市科技型上市公司的数量是多少？"),
    ("技术转移机构有多少家？", "天津发展了多少家技术转移机构？"),
    ("众创空间全市累计达到多少家？", "天津备案的众创空间一共有多少家？"),
    ("科技成果转化的奖励比例是多少？", "科技成果转化给研发人员的奖励不低于多少比例？"),
    ("首台套保险补偿怎么申请？", "申请首台（套）重大技术装备保险补偿的流程是什么？"),
    ("企业上市有哪些奖励？", "企业成功上市可以获得什么奖励？"),
    ("哪些企业可以申请创新券？", "申请科技创新券的企业要符合什么条件？"),
    ("人才公寓的申请条件是什么？", "申请人才公寓需要满足哪些条件？"),
    ("政银担合作机制是什么？", "什么是“政银担”合作机制？"),
    ("中试平台可以获得哪些金融支持？", "中试平台能享受什么金融方面的支持政策？"),
    ("概念验证平台主要集中在哪些领域？", "概念验证平台重点布局在什么产业领域？"),
    ("天津的“1+3+4”现代化产业体系指什么？", "“1+3+4”产业体系具体包括哪些产业？"),
    ("孵化机构场地面积有多大？", "孵化机构的场地达到了多少平方米？"),
    ("创业担保贷款的额度是多少？", "创业担保贷款最多能贷多少钱？"),
    ("高校毕业生就业补贴如何领取？", "高校毕业生的就业补贴怎么领？"),
    ("申请专利资助需要什么条件？", "专利资助的申请条件有哪些？"),
]

NEAR_MISSES = [
    ("天津布局建设了多少家概念验证平台？", "天津新增认定了多少家科技企业孵化器？"),
    ("全市累计有多少家科技企业孵化器？", "全市累计有多少家众创空间？"),
    ("科技保险提供了多少风险保障？", "科技担保余额是多少？"),
    ("中试平台建设下一步有什么安排？", "中试平台建设开展了哪些工作？"),
    ("天津设置了多少名服务专员？", "天津有多少名技术转移人才？"),
    ("高新技术企业认定需要满足哪些条件？", "高新技术企业可以享受哪些税收优惠？"),
    ("研发费用加计扣除的比例是多少？", "研发费用加计扣除怎么申报？"),
    ("如何申请稳岗补贴？", "稳岗补贴的发放标准是多少？"),
    ("专精特新企业申报需要什么材料？", "专精特新企业可以获得多少奖励？"),
    ("科技型上市企业有多少家？", "2019年以来新增科技型上市公司多少家？"),
    ("首台套保险补偿怎么申请？", "首台套保险补偿的比例是多少？"),
    ("企业上市有哪些奖励？", "企业上市需要满足哪些条件？"),
    ("人才公寓的申请条件是什么？", "人才公寓的租金标准是多少？"),
    ("创业担保贷款的额度是多少？", "创业担保贷款的贴息比例是多少？"),
    ("申请专利资助需要什么条件？", "专利资助的金额是多少？"),
    ("概念验证平台主要集中在哪些领域？", "中试基地项目主要有哪些？"),
    ("技术转移机构有多少家？", "孵化机构场地达到多少平方米？"),
    ("中试平台项目需要进行节能审查吗？", "中试平台项目可以申请哪些资金支持？"),
    ("高校毕业生就业补贴如何领取？", "高校毕业生创业补贴如何领取？"),
    ("小微企业可以享受哪些税收优惠？", "个体工商户可以享受哪些税收优惠？"),
    ("技术合同登记在哪里办理？", "技术合同登记需要提交哪些材料？"),
    ("哪些企业可以申请创新券？", "创新券的使用范围是什么？"),
    ("科技成果转化的奖励比例是多少？", "科技成果转化的收益怎么分配？"),
    ("天津的“1+3+4”现代化产业体系指什么？", "天津有哪些未来产业？"),
    ("政银担合作机制是什么？", "科技型企业上市后备资源库是什么？"),
    ("生物医药领域的概念验证体系包括哪些环节？", "智能科技领域的概念验证服务包括哪些环节？"),
    ("2023年末科技保险风险保障是多少？", "2022年末科技保险风险保障是多少？"),
    ("天津市的中试平台有哪些？", "北京市的中试平台有哪些？"),
    ("新增备案众创空间多少家？", "新增认定科技企业孵化器多少家？"),
    ("工信部对哪个中试平台进行了调研？", "工信部要求调研哪些内容？"),
]

UNRELATED = [
    ("天津布局建设了多少家概念验证平台？", "出国旅游怎么办理护照和签证？"),
    ("高新技术企业认定需要满足哪些条件？", "今天天气怎么样？"),
    ("如何申请稳岗补贴？", "推荐一家附近好吃的餐厅"),
    ("科技保险提供了多少风险保障？", "孩子上小学需要准备什么？"),
    ("中试平台建设下一步有什么安排？", "驾驶证到期了怎么换证？"),
    ("技术转移机构有多少家？", "医保卡丢了怎么补办？"),
    ("企业上市有哪些奖励？", "怎么预约博物馆的门票？"),
    ("人才公寓的申请条件是什么？", "火车票改签要收手续费吗？"),
    ("研发费用加计扣除的比例是多少？", "宠物狗需要办理登记吗？"),
    ("创业担保贷款的额度是多少？", "周末去哪里爬山比较好？"),
    ("申请专利资助需要什么条件？", "手机信号不好怎么办？"),
    ("天津设置了多少名服务专员？", "如何学好英语口语？"),
    ("小微企业可以享受哪些税收优惠？", "结婚登记需要带什么证件？"),
    ("政银担合作机制是什么？", "感冒了吃什么药好得快？"),
    ("首台套保险补偿怎么申请？", "电脑开不了机怎么办？"),
    ("概念验证平台主要集中在哪些领域？", "足球比赛几点开始？"),
    ("全市累计有多少家科技企业孵化器？", "怎么给手机充话费？"),
    ("专精特新企业申报需要什么材料？", "小区停车位怎么收费？"),
    ("技术合同登记在哪里办理？", "明天会下雨吗？"),
    ("高校毕业生就业补贴如何领取？", "怎么做红烧肉？"),
]


def similarities(encode: object, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Cosine of each pair (normalised vectors: the dot product), 0 where the figures disagree."""
    left = encode([normalize_question(a) for a, _ in pairs])  # type: ignore[operator]
    right = encode([normalize_question(b) for _, b in pairs])  # type: ignore[operator]
    sims = np.sum(np.asarray(left) * np.asarray(right), axis=1)
    guard = np.array([figures_agree(a, b) for a, b in pairs], dtype=bool)
    return np.where(guard, sims, 0.0)


def report(encode: object) -> dict[str, np.ndarray]:
    return {"paraphrase": similarities(encode, PARAPHRASES), "near miss": similarities(encode, NEAR_MISSES),
            "unrelated": similarities(encode, UNRELATED)}


def main(model: str | None = None) -> None:
    from assistant.embed import get_embedder
    from assistant.settings import Settings

    settings = Settings()
    embedder = get_embedder(model or settings.model, settings.embed_batch_size)
    sims = report(embedder.encode)
    for kind, values in sims.items():
        print(f"{kind:11s} n={len(values):3d} min={values.min():.3f} p10={np.percentile(values, 10):.3f} "
              f"median={np.median(values):.3f} max={values.max():.3f}")
    ceiling = float(max(sims["near miss"].max(), sims["unrelated"].max()))
    for threshold in sorted({*np.round(np.arange(0.80, 0.991, 0.01), 2), settings.curated_threshold}):
        served = float(np.mean(sims["paraphrase"] >= threshold))
        wrong = int(np.sum(sims["near miss"] >= threshold) + np.sum(sims["unrelated"] >= threshold))
        print(f"threshold {threshold:.3f}: paraphrases served {served:.0%}, wrong matches {wrong}")
    print(f"highest non-paraphrase similarity: {ceiling:.3f} (configured: {settings.curated_threshold})")
    order = np.argsort(-sims["near miss"])[:5]
    for i in order:
        a, b = NEAR_MISSES[i]
        print(f"  near miss {sims['near miss'][i]:.3f}: {a} | {b}")
    order = np.argsort(sims["paraphrase"])[:5]
    for i in order:
        a, b = PARAPHRASES[i]
        print(f"  paraphrase {sims['paraphrase'][i]:.3f}: {a} | {b}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

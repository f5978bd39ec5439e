"""The reports in English or Chinese (``--lang en|zh``): one table of texts keyed by id, and the names of
indicators, stages, groups and verdicts from the catalog.

A report asks ``t = Texts(lang)`` for ``t("key", **values)``: the template of that key in the language,
filled with :meth:`str.format`. Indicator names come from the catalog (``name_zh`` / ``name_en``), so a
report never spells an indicator name itself. Figures in ``models/`` take their labels as arguments;
:func:`plot_labels` gives them in the language.
"""

from __future__ import annotations

from collections.abc import Mapping

from innopoints.features.catalog import list_indicators
from innopoints.features.errors import ConfigError
from innopoints.features.provinces import PROVINCE_NAMES_ZH
from innopoints.features.stage import STAGE_NAMES_ZH

LANGS: tuple[str, ...] = ("en", "zh")
HTML_LANG = {"en": "en", "zh": "zh-CN"}

# Words that appear as values in the results (stages, groups, verdicts, slice columns): English → Chinese.
TERMS_ZH: dict[str, str] = {
    **STAGE_NAMES_ZH,
    "all": "全部",
    "input": "投入", "output": "产出", "growth_group": "成长", "financial": "财务",
    "development": "发展", "impact": "影响",
    "official": "官方", "candidate": "候选", "local": "地方",
    "keep": "保留", "reweight": "调整分值", "add": "新增", "drop": "删除", "leave out": "不计分",
    "uncertain": "不确定", "zero": "零分", "cap": "限定份额", "plateau": "平台",
    "other": "其他", "measurable": "可测", "none": "无", "entering": "新入选", "leaving": "退出", "staying": "保持入选",
    "province": "省份", "stage": "阶段", "is_sme": "中小企业", "True": "是", "False": "否",
    "as policy": "与政策一致", "REVERSED: against policy": "反向:与政策相反",
    "policy": "政策方向", "data": "数据方向", "formula": "公式", "model": "模型",
    "scored": "公式计分", "learned": "模型学到", "yes": "有", "no": "无",
}

# key: (English, Chinese). Values are filled with str.format; keep the {names} identical in both.
TEXTS: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- reviewer report (experiments/html.py)
    "html.title": ("Compare {b} vs {a}", "公式对比:{b} 对比 {a}"),
    "html.h1": ("Points formula comparison: {b} vs {a}", "积分公式对比:{b} 对比 {a}"),
    "role.baseline": ("baseline", "基准"),
    "role.candidate": ("candidate", "候选"),
    "html.facts": ("Test year {test_year}: {test_n} loans with observed outcomes, {test_defaults} defaults (trained "
                   "on {train_years}). {population}: {population_n} firms. Qualified share {share}. Every "
                   "difference is B − A.",
                   "测试年份 {test_year}:{test_n} 笔已观察到结果的贷款,其中违约 {test_defaults} 笔(训练年份 "
                   "{train_years})。{population}:{population_n} 家企业。入选比例 {share}。所有差异均为 B − A。"),
    "population": ("Population", "企业总体"),
    "population.of": ("Population of {year}", "{year} 年企业总体"),
    "verdict.identical": ("Identical ranking of the test loans.", "两个公式对测试贷款的排序完全相同。"),
    "verdict.better": ("B ranks defaults better than A: the 95% interval is above 0.",
                       "B 对违约的排序优于 A:95% 区间高于 0。"),
    "verdict.worse": ("B ranks defaults worse than A: the 95% interval is below 0.",
                      "B 对违约的排序差于 A:95% 区间低于 0。"),
    "verdict.unclear": ("No clear difference: the 95% interval includes 0.", "无明显差异:95% 区间包含 0。"),
    "qualified.count": ("{defaults} defaults in {n} loans", "{n} 笔贷款中违约 {defaults} 笔"),
    "folded": ("{title} ({n} rows)", "{title}({n} 行)"),
    "sec.what_changes": ("What changes", "变化概览"),
    "card.delta_auc": ("ΔAUC on the test loans (95% bootstrap)", "测试贷款的 ΔAUC(95% 自助法区间)"),
    "card.auc_sub": ("AUC A {a} → B {b}; DeLong p = {p}", "AUC A {a} → B {b};DeLong p = {p}"),
    "card.qualified": ("Default rate of qualified test loans (cut-off on the firms, top {share})",
                       "入选测试贷款的违约率(分数线取企业前 {share})"),
    "card.qualified_sub": ("A {a}; B {b}; 95% Wilson intervals; {n} test defaults in all",
                           "A {a};B {b};95% Wilson 区间;测试违约共 {n} 笔"),
    "card.entering": ("Firms entering the qualified set{year}", "新入选企业{year}"),
    "card.leaving": ("Firms leaving the qualified set{year}", "退出入选的企业{year}"),
    "card.year": (" ({year})", "({year} 年)"),
    "card.entering_sub": ("qualified A {qa} → B {qb} of {n} firms", "入选企业 A {qa} → B {qb}(共 {n} 家)"),
    "card.entering_loans": ("test loans entering: {n}, default rate {rate}", "新入选的测试贷款 {n} 笔,违约率 {rate}"),
    "card.staying": ("{n} firms stay qualified", "{n} 家企业保持入选"),
    "card.leaving_loans": ("test loans leaving: {n}, default rate {rate}", "退出的测试贷款 {n} 笔,违约率 {rate}"),
    "card.moved": ("Points moved per stage", "各阶段分值变动"),
    "card.moved_sub": ("start-up / growth / stable; {n} item(s) changed", "初创期 / 成长期 / 稳定期;{n} 项变动"),
    "card.moved_sub2": ("sign conflicts: {n}; PSI B vs A {psi}", "方向冲突 {n} 项;PSI(B 对 A){psi}"),
    "no_change": ("No item's points change in any stage.", "各阶段均无指标分值变动。"),
    "biggest": ("The {n} biggest point changes", "分值变动最大的 {n} 项"),
    "col.indicator": ("indicator", "指标"),
    "col.name": ("name", "名称"),
    "col.stage": ("stage", "阶段"),
    "col.change": ("change", "变动"),
    "col.direction": ("direction", "方向"),
    "col.item": ("item", "项目"),
    "col.curve": ("curve {k}", "曲线 {k}"),
    "col.formula": ("formula", "公式"),
    "col.source": ("source", "来源"),
    "col.policy": ("policy", "政策方向"),
    "col.firms": ("firms", "企业数"),
    "col.loans": ("loans", "贷款数"),
    "col.defaults": ("defaults", "违约数"),
    "col.qualified": ("qualified {k}", "入选 {k}"),
    "col.band": ("band", "档"),
    "col.points": ("points", "积分"),
    "col.default_rate": ("default rate", "违约率"),
    "col.fitted_pd": ("fitted PD", "拟合违约概率"),
    "bonus_item": ("bonus {id}", "加分项 {id}"),
    "same": ("same", "相同"),
    "absent": ("(absent)", "(无)"),
    "sec.metrics": ("Metrics side by side", "指标对比"),
    "metric.test_auc": ("AUC", "AUC"),
    "metric.test_gini": ("Gini", "Gini 系数"),
    "metric.test_ks": ("KS", "KS"),
    "metric.test_brier": ("Brier score", "Brier 分数"),
    "metric.test_log_loss": ("log loss", "对数损失"),
    "metric.test_top_default_rate": ("top-share default rate", "入选比例内违约率"),
    "metric.test_top_capture": ("defaults captured in the top share", "入选比例内的违约占比"),
    "metric.test_top_good_capture": ("non-defaults in the top share", "入选比例内的非违约占比"),
    "metric.train_auc": ("AUC on the training years", "训练年份 AUC"),
    "metric.cutoff": ("points cut-off of the top share", "入选比例的积分分数线"),
    "col.metric": ("metric (test loans)", "指标(测试贷款)"),
    "col.difference": ("difference B − A", "差异 B − A"),
    "col.estimate": ("estimate [95% interval]", "估计值 [95% 区间]"),
    "delta.bootstrap": ("ΔAUC, paired bootstrap ({n} resamples, seed {seed})",
                        "ΔAUC,配对自助法({n} 次重抽样,种子 {seed})"),
    "delta.delong": ("ΔAUC, DeLong", "ΔAUC,DeLong 检验"),
    "delta.delong_zp": ("DeLong z / p-value", "DeLong z / p 值"),
    "delta.top_rate": ("Δ top-share default rate, paired bootstrap", "Δ 入选比例内违约率,配对自助法"),
    "col.auc": ("AUC {k}", "AUC {k}"),
    "col.top_rate": ("top rate {k}", "入选违约率 {k}"),
    "loans_by": ("Test loans by {col}", "测试贷款(按{col})"),
    "firms_by": ("Firms by {col}", "企业(按{col})"),
    "note.metrics": ("Slices with too few loans or defaults show no AUC or top rate (coverage rule of the "
                     "evaluation). Brier score and log loss use a points-to-PD calibration fitted on the training "
                     "years only.",
                     "贷款或违约过少的分组不显示 AUC 和入选违约率(评估的覆盖规则)。Brier 分数和对数损失使用仅在训练"
                     "年份拟合的积分-违约概率校准。"),
    "sec.points": ("Points per indicator and stage", "各指标各阶段分值"),
    "note.points": ("Max points per lifecycle stage; an item a formula does not have counts as 0. Highlighted: "
                    "points that change, and curves whose type or reference values differ.",
                    "各生命周期阶段的分值上限;公式中没有的项目记为 0。高亮:分值有变动的项目,以及曲线类型或参考值"
                    "不同的项目。"),
    "sec.importance": ("SHAP importance side by side", "SHAP 重要性对比"),
    "imp.importance": ("mean |SHAP|", "平均 |SHAP|"),
    "imp.lo": ("lo", "下限"),
    "imp.hi": ("hi", "上限"),
    "imp.rank": ("rank", "排名"),
    "imp.direction": ("direction", "方向"),
    "note.importance": ("Mean |SHAP| on the default log-odds of each formula's model, with its 95% bootstrap "
                        "interval; direction +1 = a higher value goes with lower default risk.",
                        "各公式模型在违约对数几率上的平均 |SHAP|,附 95% 自助法区间;方向 +1 表示数值越高违约风险越低。"),
    "sec.conflicts": ("Sign conflicts", "方向冲突"),
    "note.conflicts": ("A sign conflict is an indicator scored (or learned by a model) in the opposite direction "
                       "of its policy direction (+1 = a higher value earns more points).",
                       "方向冲突指某指标的计分方向(或模型学到的方向)与其政策方向相反(+1 表示数值越高得分越多)。"),
    "none_found": ("None found.", "未发现。"),
    "sec.qualified": ("Qualified-set changes by province, stage and SME", "按省份、阶段和中小企业划分的入选变化"),
    "note.qualified": ("{population}: each formula qualifies its top {share} (cut-off A {ta}, B {tb} points). No "
                       "outcome is known yet for these firms.",
                       "{population}:每个公式取前 {share} 入选(分数线 A {ta} 分,B {tb} 分)。这些企业尚无贷款结果。"),
    "note.qualified_loans": ("Test loans ({n} with observed outcomes): each loan qualified at origination by each "
                             "formula's top {share}; cells show loans (default rate).",
                             "测试贷款({n} 笔已观察到结果):按各公式前 {share} 的规则在放款时判断是否入选;单元格为"
                             "贷款笔数(违约率)。"),
    "test_loans": ("test loans", "测试贷款"),
    "sec.calibration": ("Calibration", "校准"),
    "alt.calibration": ("Calibration curves of A and B", "A 与 B 的校准曲线"),
    "note.calibration": ("Quantile bands of each formula's points on the test loans; fitted PD is the points-to-PD "
                         "calibration from the training years.",
                         "各公式在测试贷款上的积分分位档;拟合违约概率为训练年份得出的积分-违约概率校准。"),
    "sec.psi": ("Population stability (PSI)", "群体稳定性(PSI)"),
    "col.loan_years": ("loan years", "贷款年份"),
    "col.loans_from": ("loans from", "起始年贷款数"),
    "col.loans_to": ("loans to", "终止年贷款数"),
    "col.psi": ("PSI {k}", "PSI {k}"),
    "col.b_vs_a": ("B against A", "B 对 A"),
    "psi.population": ("population points", "企业总体积分"),
    "psi.test_loans": ("test-loan points", "测试贷款积分"),
    "alt.distribution": ("Points distribution of the population, A and B", "A 与 B 的企业总体积分分布"),
    "note.psi": ("Population stability index of points between consecutive origination years (earlier year = "
                 "expected, 10 quantile bins). Below {watch} stable, {watch}–{act} worth watching, above {act} a "
                 "real shift (highlighted).",
                 "相邻放款年份之间积分的群体稳定性指数(前一年为期望分布,10 个分位箱)。低于 {watch} 为稳定,"
                 "{watch}–{act} 需关注,高于 {act} 为明显偏移(高亮)。"),
    "sec.policy": ("Lending and losses under the policy", "政策下的放贷与损失"),
    "pol.qualified_firms": ("qualified firms", "入选企业"),
    "pol.expected_volume": ("expected volume", "预期放贷额"),
    "pol.default_rate": ("default rate", "违约率"),
    "pol.expected_loss": ("expected loss", "预期损失"),
    "pol.split": ("bank / guarantee / funds", "银行 / 担保 / 风险补偿资金"),
    "pol.p99": ("99th pct loss", "99% 分位损失"),
    "pol.exhausted": ("a fund exhausted", "资金池耗尽概率"),
    "pol.headline": ("At A's expected loss ({loss}), B qualifies {firms} firms (cut-off {cutoff} points) and lends "
                     "{volume}: {diff} more than A ({ratio}).",
                     "在 A 的预期损失({loss})下,B 使 {firms} 家企业入选(分数线 {cutoff} 分),放贷 {volume}:"
                     "比 A 多 {diff}({ratio})。"),
    "pol.note": ("Simulated for the scoring year {year} under the default policy (docs/policy.md: take-up, loan "
                 "size and default probability per points band from the observed loans, losses split between bank, "
                 "guarantee fund and provincial risk-compensation funds, {draws} one-factor Monte Carlo draws). "
                 "Money in CNY 10k. The full simulation is in policy/ beside this report.",
                 "按默认政策对评分年份 {year} 的模拟(docs/policy.md:各积分档的贷款使用率、贷款规模和违约概率取自"
                 "已观察贷款,损失在银行、担保基金和省级风险补偿资金之间分担,{draws} 次单因子蒙特卡洛抽样)。金额单位"
                 "为万元。完整模拟见本报告旁的 policy/ 文件夹。"),
    "sec.provenance": ("Provenance", "来源"),
    "prov.method": ("method", "方法"),
    "prov.data_fingerprint": ("data fingerprint", "数据指纹"),
    "prov.config_hash": ("config hash", "配置哈希"),
    "prov.seed": ("seed", "随机种子"),
    "prov.content_hash": ("content hash", "内容哈希"),
    "prov.illustrative": ("illustrative", "示意(非官方权重)"),
    "prov.points": ("base / bonus points", "基础分 / 加分上限"),
    "prov.items": ("indicators / bonus items", "指标数 / 加分项数"),
    "prov.not_given": ("not given", "未提供"),
    "prov.run": ("Fingerprint of the compared data: {fingerprint}. Qualified share {share}; paired bootstrap {n_boot} "
                 "resamples, seed {seed}; test year {test_year}; loans excluded as still open: {excluded}. Aggregates "
                 "only: no firm or loan identifier appears in this report.",
                 "对比数据的指纹:{fingerprint}。入选比例 {share};配对自助法 {n_boot} 次重抽样,种子 {seed};测试年份 "
                 "{test_year};因观察期未满而排除的贷款:{excluded}。仅含汇总数据:本报告不出现任何企业或贷款标识。"),
    "made_by": ("Made by innopoints compare.", "由 innopoints compare 生成。"),
    "mig.title": ("Migration: who enters and leaves the qualified set (B vs A)",
                  "入选名单迁移:谁进入、谁退出(B 对比 A)"),
    "mig.label": ("Migration (B vs A)", "入选名单迁移(B 对比 A)"),
    "mig.note": ("Each formula qualifies its own top {share} of the scoring year's firms ({scale}): formulas on "
                 "different scales (a guideline 1.0 and a 2.0 formula) compare by rank.",
                 "每个公式各自取评分年份企业的前 {share} 入选({scale}):尺度不同的公式(指引 1.0 与 2.0 公式)按排名"
                 "比较。"),
    "mig.scale": ("{side} {base} base + {bonus} bonus points", "{side} 基础分 {base} + 加分 {bonus}"),
    "mig.scale_sep": ("; ", ";"),
    "mig.head_html": ("slice|value|firms|qualified A|qualified B|entering|leaving|staying|net|test loans entering "
                      "(default rate)|test loans leaving (default rate)",
                      "维度|取值|企业|A 入选|B 入选|新入选|退出|保持入选|净变化|新入选的测试贷款(违约率)|"
                      "退出的测试贷款(违约率)"),
    "mig.head_md": ("| slice | value | firms | qualified A | qualified B | entering | leaving | net | "
                    "test loans entering (default rate) | leaving (default rate) |",
                    "| 维度 | 取值 | 企业 | A 入选 | B 入选 | 新入选 | 退出 | 净变化 | 新入选的测试贷款(违约率) | "
                    "退出(违约率) |"),
    # ----------------------------------------------------------------------- Markdown summary of the comparison
    "md.title": ("Formula comparison: `{b}` vs `{a}`", "公式对比:`{b}` 对比 `{a}`"),
    "md.a": ("**A (baseline):** `{label}` — {title}", "**A(基准):** `{label}` — {title}"),
    "md.b": ("**B (candidate):** `{label}` — {title}", "**B(候选):** `{label}` — {title}"),
    "md.facts": ("Test year {test_year}: {test_n} loans, {test_defaults} defaults; {population}: {population_n} "
                 "firms; qualified share {share}. Differences are B − A.",
                 "测试年份 {test_year}:{test_n} 笔贷款,违约 {test_defaults} 笔;{population}:{population_n} 家企业;"
                 "入选比例 {share}。差异均为 B − A。"),
    "md.what_changes": ("**What changes**", "**变化概览**"),
    "md.auc": ("ΔAUC {delta} (95% paired bootstrap); AUC A {a} → B {b}; DeLong p = {p}. {verdict}",
               "ΔAUC {delta}(95% 配对自助法);AUC A {a} → B {b};DeLong p = {p}。{verdict}"),
    "md.qualified": ("Default rate of the test loans whose points reach the cut-off that qualifies the top {share} "
                     "of the firms: A {ra} ({ca}) → B {rb} ({cb}); 95% Wilson intervals; {n} test defaults in all.",
                     "积分达到企业前 {share} 入选分数线的测试贷款违约率:A {ra}({ca})→ B {rb}({cb});95% Wilson "
                     "区间;测试违约共 {n} 笔。"),
    "md.set": ("Qualified set: {entering} firms enter, {leaving} leave, {staying} stay (qualified A {qa} → B {qb}). "
               "On the test loans: entering {le} (default rate {re}), leaving {ll} ({rl}), staying {ls} ({rs}).",
               "入选名单:新入选 {entering} 家,退出 {leaving} 家,保持 {staying} 家(入选 A {qa} → B {qb})。测试贷款:"
               "新入选 {le} 笔(违约率 {re}),退出 {ll} 笔({rl}),保持 {ls} 笔({rs})。"),
    "md.moved": ("Points moved (start-up / growth / stable): {moved} in {n} item(s); sign conflicts: {conflicts}; "
                 "PSI B vs A (population) {psi}.",
                 "分值变动(初创期 / 成长期 / 稳定期):{moved},涉及 {n} 项;方向冲突 {conflicts} 项;PSI(B 对 A,"
                 "企业总体){psi}。"),
    "md.no_change": ("No item's points change.", "无指标分值变动。"),
    "md.head": ("| indicator | stage | A | B | change | direction |", "| 指标 | 阶段 | A | B | 变动 | 方向 |"),
    "md.conflicts": ("**Sign conflicts:** ", "**方向冲突:** "),
    "md.conflict": ("{formula} {source} `{id}` ({direction} vs policy {policy})",
                    "{formula} {source} `{id}`({direction},政策方向 {policy})"),
    "md.policy": ("**Policy (simulated):** at A's expected loss, B lends {volume} ({diff} more than A, CNY 10k) to "
                  "{firms} qualified firms.",
                  "**政策(模拟):** 在 A 的预期损失下,B 向 {firms} 家入选企业放贷 {volume}(比 A 多 {diff},万元)。"),
    "pol.churn_title": ("Churn as a policy risk", "名单变动的政策风险"),
    "pol.churn_total": ("From A to B, {kept} of {ref_n} qualified firms stay, {left} leave and {entered} enter.",
                        "从 A 到 B,{ref_n} 家入选企业中 {kept} 家保留,{left} 家退出,{entered} 家新入选。"),
    "pol.churn_flagged": ("Groups whose qualified firms move by at least {change} (with at least {min_firms} "
                          "qualified under one of the two; docs/policy.md):",
                          "入选企业变动至少 {change} 的分组(任一公式下至少 {min_firms} 家入选;docs/policy.md):"),
    "pol.churn_none": ("No stage, SME group or province moves by {change} or more (with at least {min_firms} "
                       "qualified under one of the two; docs/policy.md).",
                       "没有任何阶段、中小企业分组或省份的入选企业变动达到 {change}(任一公式下至少 {min_firms} 家入选;"
                       "docs/policy.md)。"),
    "pol.churn_group": ("{by} {group}: {a} → {b} qualified ({change})", "{by} {group}:入选 {a} → {b}({change})"),
    "pol.churn_new": ("new", "新增"),
    "md.churn": ("**Churn as a policy risk:** ", "**名单变动的政策风险:** "),
    "md.full": ("Full report (metrics, slices, policy, calibration, PSI, provenance): the HTML file of this "
                "comparison.", "完整报告(指标、分组、政策、校准、PSI、来源)见本次对比的 HTML 文件。"),
    # ------------------------------------------------------------ refinement report (experiments/reports.py)
    "ref.title": ("# Indicator refinement report 指标优化报告", "# 指标优化报告 Indicator refinement report"),
    "ref.role_recommended": (" **(recommended)**", " **(推荐)**"),
    "ref.role_best_data": (" (best data-driven)", "(最佳数据方向公式)"),
    "ref.role_best_policy": (" (best policy-consistent)", "(最佳政策一致公式)"),
    "ref.formulas_head": ("| formula | validation log loss | validation AUC | test AUC | KS | Brier "
                          "| default rate of qualified test loans [95%] | defaults in lowest 10% | ΔAUC vs baseline "
                          "(95%) |",
                          "| 公式 | 验证集对数损失 | 验证集 AUC | 测试集 AUC | KS | Brier | 入选测试贷款违约率 [95%] "
                          "| 最低 10% 中的违约占比 | 相对基准的 ΔAUC(95%) |"),
    "ref.of": ("({k} of {n})", "({n} 笔中 {k} 笔)"),
    "ref.reversed": ("reversed", "反向"),
    "ref.not_run": ("Not run.", "未运行。"),
    "ref.not_run_because": ("Not run: {note}.", "未运行:{note}。"),
    "ref.backtest_head": ("| test year | loans | defaults | AUC recommended [95%] | AUC baseline | ΔAUC [95%] | "
                          "default rate of qualified loans, recommended [95%] | baseline | defaults in lowest 10%, "
                          "recommended | note |",
                          "| 测试年份 | 贷款数 | 违约数 | 推荐公式 AUC [95%] | 基准 AUC | ΔAUC [95%] "
                          "| 推荐公式入选贷款违约率 [95%] | 基准 | 推荐公式最低 10% 中的违约占比 | 备注 |"),
    "ref.recommended": ("**Recommended formula: `{best}`**, the lowest validation log loss among the {among} "
                        "(`train.recommend: {recommend}`). Every point shown below is this formula's.",
                        "**推荐公式:`{best}`**,在{among}中验证集对数损失最低(`train.recommend: {recommend}`)。"
                        "下文所有分值均为该公式的分值。"),
    "ref.among_policy": ("policy-consistent candidates (no indicator scored against its policy direction)",
                         "政策一致的候选公式(没有指标按与政策相反的方向计分)"),
    "ref.among_data": ("data-driven candidates (indicators may be scored against policy)",
                       "数据方向的候选公式(指标可能按与政策相反的方向计分)"),
    "ref.split": ("Loans with observed outcomes: training years {train_years} ({train_n} loans, {train_defaults} "
                  "defaults), choice among candidates on {validation_year}, test year {test_year} ({test_n} loans, "
                  "**{test_defaults} defaults**). Excluded: {excluded} loans whose 12-month window is still open.",
                  "已观察到结果的贷款:训练年份 {train_years}({train_n} 笔贷款,{train_defaults} 笔违约),在 "
                  "{validation_year} 年选择候选公式,测试年份 {test_year}({test_n} 笔贷款,**{test_defaults} 笔违约**)。"
                  "排除:{excluded} 笔 12 个月观察期未满的贷款。"),
    "ref.sec_cost": ("## What policy consistency costs", "## 政策一致性的代价"),
    "ref.cost": ("Best policy-consistent candidate `{policy}` against the best data-driven one `{data}` on the test "
                 "year: ΔAUC {mid}, 95% interval [{low}, {high}] (paired bootstrap of the test loans, {defaults} "
                 "defaults).",
                 "测试年份上最佳政策一致候选 `{policy}` 对比最佳数据方向候选 `{data}`:ΔAUC {mid},95% 区间 "
                 "[{low}, {high}](测试贷款配对自助法,{defaults} 笔违约)。"),
    "ref.cost_zero": (" The interval includes zero: on this evidence consistency costs no measurable accuracy.",
                      "区间包含 0:就现有证据而言,政策一致性没有可测的准确度损失。"),
    "ref.sec_formulas": ("## Formulas on the test year", "## 测试年份上的各公式"),
    "ref.formulas_note": ("The qualified loans are those whose points reach the cut-off that qualifies the top {share} "
                          "of the test year's **firms** (the policy's rule), with a Wilson interval; capture is the "
                          "share of test defaults among the 10% lowest-scored test loans, with a bootstrap interval.",
                          "入选贷款指积分达到测试年份前 {share} **企业**入选分数线的贷款(政策规则),附 Wilson 区间;"
                          "违约占比为得分最低 10% 测试贷款中的违约占全部测试违约的比例,附自助法区间。"),
    "ref.test_auc": ("test AUC", "测试集 AUC"),
    "ref.models": ("Reference models (LightGBM with its capacity tuned on the validation year, the same with monotone "
                   "constraints in the policy directions, a logistic regression): {models}.",
                   "参照模型(在验证年份调参的 LightGBM、按政策方向加单调约束的同一模型、逻辑回归):{models}。"),
    "ref.models_beaten": (" The recommended formula scores at least as high as {beaten}: these are references, not "
                          "a ceiling.", "推荐公式的得分不低于 {beaten}:这些是参照,不是上限。"),
    "ref.sec_backtest": ("## Rolling-origin backtest", "## 滚动起点回测"),
    "ref.sec_evidence": ("## How the evidence was gathered", "## 证据如何得出"),
    "ref.evidence": ("{refits} refits of a LightGBM default model on bootstrap resamples of firms (all loans of a firm "
                     "together; at most {rows} loans each), each beside a shadow copy of every indicator (the "
                     "indicator block with its rows permuted: same joint distribution, no link to default). "
                     "Importance is mean |SHAP| on the default log-odds; intervals are the 2.5 and 97.5 percentiles "
                     "over the refits. An indicator (or a cluster of twins) has a **measurable link** when its "
                     "importance beats the best shadow's in at least 80% of the refits, **none** at 20% or less, and "
                     "is **uncertain** in between; a direction is learned when at least half of the refits show one "
                     "and 80% of those agree. ",
                     "在按企业自助重抽样的样本上重拟合 LightGBM 违约模型 {refits} 次(同一企业的贷款一起抽取;每次最多 "
                     "{rows} 笔贷款),每次都加入每个指标的影子副本(行被打乱的指标块:联合分布相同,与违约无关)。重要性为"
                     "违约对数几率上的平均 |SHAP|;区间为各次重拟合的 2.5 与 97.5 百分位。某指标(或孪生指标簇)的重要性"
                     "在至少 80% 的重拟合中超过最佳影子时为**可测关联**,不超过 20% 时为**无**,介于两者之间为**不确定**;"
                     "至少一半的重拟合显示某方向且其中 80% 一致时,视为学到了方向。"),
    "ref.shadow": ("Best shadow importance: {mid} [{low}, {high}]. ", "最佳影子重要性:{mid} [{low}, {high}]。"),
    "ref.twins": ("Twins: |Spearman| ≥ {corr} (average linkage). An indicator missing for at least {share} of a "
                  "stage's loans gets no points in that stage.",
                  "孪生指标:|Spearman| ≥ {corr}(平均连接)。某阶段贷款中缺失比例至少 {share} 的指标在该阶段不计分。"),
    "ref.sec_clusters": ("## Clusters of indicators, ranked", "## 指标簇排名"),
    "ref.clusters_note": ("Ranked by importance above the cluster's own shadow (the same members on the permuted "
                          "block).", "按高出该簇自身影子(打乱后的同一组成员)的重要性排序。"),
    "ref.clusters_head": ("| rank | cluster | importance [95%] | beats the best shadow | link | carried by "
                          "| verdicts |",
                          "| 排名 | 指标簇 | 重要性 [95%] | 超过最佳影子 | 关联 | 代表指标 | 结论 |"),
    "ref.of_refits": ("{share} of refits", "{share} 的重拟合"),
    "ref.sec_conflicts": ("## Sign conflicts", "## 方向冲突"),
    "ref.conflict": ("- **{id}** ({name_zh}, {name_en}): policy direction {policy}, learned {learned} in {share} of "
                     "refits; in `{best}`: {verdict}.",
                     "- **{id}**({name_zh},{name_en}):政策方向 {policy},{share} 的重拟合学到 {learned};在 `{best}` "
                     "中:{verdict}。"),
    "ref.conflict_reversed": ("scored **against policy** (reversed)", "**按与政策相反的方向**计分(反向)"),
    "ref.conflict_zero": ("no points", "不计分"),
    "ref.sec_recommendations": ("## Recommendations", "## 建议"),
    "ref.sec_every": ("## Every indicator", "## 全部指标"),
    "ref.every_note": ("Points: `{best}`'s max points for start-up / growth / stable firms, with the 95% interval from "
                       "refitting its points on the refits' resamples.",
                       "分值:`{best}` 对初创期 / 成长期 / 稳定期企业的分值上限,"
                       "附在各次重抽样上重新拟合分值得到的 95% 区间。"),
    "ref.every_head": ("| cluster | indicator | 指标 | group | status | importance [95%] | beats shadow | learned / "
                       "policy | AUC lost when permuted [95%] | missing | baseline pts | points (start-up / growth / "
                       "stable) | recommendation | reason |",
                       "| 簇 | 指标代码 | 指标 | 类别 | 状态 | 重要性 [95%] | 超过影子 | 学到 / 政策方向 "
                       "| 打乱后损失的 AUC [95%] | 缺失 | 基准分值 | 分值(初创期 / 成长期 / 稳定期) | 建议 | 理由 |"),
    "ref.sec_frontier": ("## Smallest-change recalibration frontier", "## 最小改动再校准前沿"),
    "ref.frontier_head": ("| max points moved per stage | moved (start-up / growth / stable) | training log loss | "
                          "training AUC |",
                          "| 每阶段最多变动分值 | 实际变动(初创期 / 成长期 / 稳定期) | 训练集对数损失 | 训练集 AUC |"),
    "ref.sec_notes": ("## Notes", "## 附注"),
    # ------------------------------------------------------ selection report (experiments/reports.py, selection.md)
    "sel.title": ("# Who was lent: support and corrections 贷款样本选择", "# 贷款样本选择:支持度与校正 Who was lent"),
    "sel.sec_support": ("## Support behind each formula's qualified set", "## 各公式入选名单的样本支持度"),
    "sel.sec_weights": ("## Inverse-propensity weights (a sensitivity analysis)", "## 逆倾向得分加权(敏感性分析)"),
    "sel.sec_points": ("## The recommended formula's points, corrected (`{formula}`)",
                       "## 推荐公式分值的校正(`{formula}`)"),
    "sel.intro": ("Every AUC, weight and recommendation is learned from approved loans, and banks lend mostly to "
                  "firms the formula in force qualifies. Where a formula qualifies firms unlike any funded firm, "
                  "what it promises for them is an extrapolation. {method}. Out of time on {year}, the propensity "
                  "separates firms that borrowed from those that did not with AUC {auc} (lending rate {rate}, mean "
                  "propensity {mean}).",
                  "所有 AUC、权重与建议都从已获批的贷款中学得,而银行主要贷给现行公式入选的企业。若某公式使与任何"
                  "获贷企业都不相似的企业入选,它对这些企业的判断只是外推。{method}。在 {year} 年做样本外检验,"
                  "倾向得分区分借款与未借款企业的 AUC 为 {auc}(贷款率 {rate},平均倾向得分 {mean})。"),
    "sel.method": ("The propensity of being lent: LightGBM on the points of the formula in force and every "
                   "indicator (fiscal year before), fitted on the firm-years of {first}–{last} (before the test "
                   "year {year}); support judged on the {year} firms",
                   "获贷倾向:以现行公式的积分和全部指标(上一财年)为输入的 LightGBM,拟合于 {first}–{last} 年的"
                       "企业年度数据(早于测试年份 {year});样本支持度按 {year} 年的企业判断"),
    "sel.low_support": ("Low support: a modelled chance of a loan below **{low}** (`selection.low_support`). "
                        "Qualified: the top {share} of the {year} firms under each formula.",
                        "低支持度:模型估计的获贷概率低于 **{low}**(`selection.low_support`)。入选:各公式下 "
                        "{year} 年企业的前 {share}。"),
    "sel.support_head": ("| formula | qualified firms | in low support | share of qualified | share of qualified "
                         "points | share of all points (mass) | qualified, not qualified by the formula in force | "
                         "of those in low support |",
                         "| 公式 | 入选企业 | 低支持度中 | 占入选比例 | 占入选积分比例 | 占全部积分比例(总量) | "
                         "入选但现行公式下未入选 | 其中低支持度 |"),
    "sel.bins_intro": ("Observed loans (training years, outcome known) behind every propensity segment:",
                       "各倾向得分区间背后的已观察贷款(训练年份,结果已知):"),
    "sel.bins_head": ("| propensity | firms | observed loans | defaults | {qualified} |",
                      "| 倾向得分 | 企业 | 已观察贷款 | 违约 | {qualified} |"),
    "sel.bins_qualified": ("qualified `{name}`", "入选 `{name}`"),
    "sel.low_flag": (" ⚠ low support", " ⚠ 低支持度"),
    "sel.weights_note": ("Each training loan weighs lending rate ÷ its propensity, clipped to [{lo}, {hi}] "
                         "(`selection.max_weight`): range {min}–{max}, {clipped} clipped, {effective} effective loans "
                         "of {loans}. Test loans are weighted with the same model (fitted before the test year).",
                         "每笔训练贷款的权重为贷款率 ÷ 其倾向得分,截断于 [{lo}, {hi}](`selection.max_weight`):范围 "
                         "{min}–{max},{clipped} 被截断,{loans} 笔中有效贷款 {effective} 笔。测试贷款用同一模型加权"
                         "(拟合早于测试年份)。"),
    "sel.weights_head": ("| formula | test AUC | test AUC, weighted |", "| 公式 | 测试 AUC | 测试 AUC(加权) |"),
    "sel.as_shipped": ("as shipped", "原公式"),
    "sel.refit_unweighted": ("refit, unweighted", "重拟合,不加权"),
    "sel.refit_ipw": ("refit, weighted", "重拟合,加权"),
    "sel.refit_parcelled": ("refit, parcelled rejects", "重拟合,含分组推断的拒贷企业"),
    "sel.points_note": ("Its max points refitted on its own curves by the constrained likelihood fit, where it gives "
                        "points: unweighted, with the weights above, and augmented with {rejects} firm-years that "
                        "were never lent (rejects, each weighing {weight}) whose default probability is inferred by "
                        "**parcelling**: the approved loans' observed rate in the same points band × {uplift} "
                        "(`selection.parcel_uplift`; mean inferred {inferred} against {observed} observed). Mean "
                        "points over the three stages:",
                        "在其给分的指标上,以受约束似然拟合在其自身曲线上重新拟合满分:不加权、用上述权重加权,以及加入 "
                        "{rejects} 个从未获贷的企业年度(拒贷企业,每个权重 {weight}),其违约概率用**分组推断**得出:"
                        "同一积分档已获批贷款的观察违约率 × {uplift}(`selection.parcel_uplift`;推断均值 {inferred},"
                        "观察值 {observed})。三个阶段的平均分值:"),
    "sel.points_head": ("| indicator | {labels} |", "| 指标 | {labels} |"),
    "sel.eval_head": ("| points | moved from the unweighted refit (per stage) | test AUC | test AUC, weighted |",
                      "| 分值 | 相对不加权重拟合的变动(每阶段) | 测试 AUC | 测试 AUC(加权) |"),
    "sel.read_as": ("Read these as sensitivity analyses: the weights only reach firms like some that were lent (a "
                    "propensity of 0 cannot be weighted up), and parcelling assumes how much riskier a refused firm "
                    "is.",
                    "以上应视为敏感性分析:权重只能作用于与某些获贷企业相似的企业(倾向得分为 0 的无法加权),而分组推断"
                    "假定了被拒企业的风险高出多少。"),
    "sel.not_run": ("Not run (`selection.enabled: false`).", "未运行(`selection.enabled: false`)。"),
    "sel.conflicts_note": ("Each indicator whose learned direction contradicts policy, handled three ways in "
                           "`{formula}` (the other indicators' points scaled so every stage keeps its total): **zero** "
                           "points, a **capped share** on its official curve, or a **plateau** curve that stops "
                           "rewarding beyond a value. Chosen per indicator in the run config "
                           "(`sign_conflicts.<indicator>.mode`); ΔAUC against zero on the test year ({defaults} "
                           "defaults), paired bootstrap 95%.",
                           "每个学到的方向与政策相反的指标,在 `{formula}` 中以三种方式处理(其他指标的分值按比例缩放,"
                           "使每个阶段总分不变):**零分**、按官方曲线**限定份额**,或超过某值后不再加分的**平台**曲线。"
                           "在运行配置中逐项选择(`sign_conflicts.<indicator>.mode`);ΔAUC 为相对零分在测试年份"
                           "({defaults} 笔违约)上的差异,配对自助法 95%。"),
    "sel.conflicts_head": ("| indicator | handling | share of points | curve | test AUC | ΔAUC vs zero [95%] |",
                           "| 指标 | 处理方式 | 分值份额 | 曲线 | 测试 AUC | 相对零分的 ΔAUC [95%] |"),
    "sel.chosen": (" **(chosen)**", " **(已选)**"),
    "sel.sec_sign_conflicts": ("## Sign conflicts: graded policy constraints", "## 方向冲突:分级政策约束"),
    # ------------------------------------------------------------- policy report (experiments/policy_report.py)
    "pr.title": ("# Policy simulation", "# 政策模拟"),
    "pr.data": ("Scoring year {year}: {firms} firms scored. Default probabilities are calibrated per points band on "
                "{calibration}; {take_up}. Money in CNY 10k.",
                "评分年份 {year}:共评分 {firms} 家企业。违约概率按积分档校准,依据{calibration};{take_up}。"
                "金额单位为万元。"),
    "pr.calibration_all": ("{loans} loans with an observed outcome ({defaults} defaults)",
                           "{loans} 笔已观察到结果的贷款({defaults} 笔违约)"),
    "pr.calibration_fit": ("{loans} loans of {years} with an observed outcome ({defaults} defaults){check}",
                           "{years} 年的 {loans} 笔已观察到结果的贷款({defaults} 笔违约){check}"),
    "pr.calibration_check": (", checked out of time on {year}", ",并在 {year} 年做样本外检验"),
    "pr.calibration_no_check": (" (every observed year: no out-of-time check)", "(已用全部观察年份:无样本外检验)"),
    "pr.take_up_flat": ("take-up is {rate} in every band (set in the policy file)",
                        "各档贷款使用率均为 {rate}(政策文件设定)"),
    "pr.take_up_estimated": ("take-up is estimated per band from borrowing in {year}",
                             "各档贷款使用率由 {year} 年的借款估计"),
    "pr.headline_range": ("- Over the {n} take-up and qualification settings of the sensitivity grid, `{label}` lends "
                          "**{loss_low} to {loss_high}** at equal expected loss and {firms_low} to {firms_high} at an "
                          "equal number of qualified firms{flag}.",
                          "- 在敏感性网格的 {n} 种使用率与入选设定下,`{label}` 在同等预期损失下的放贷变化为 "
                          "**{loss_low} 至 {loss_high}**,在同等入选企业数下为 {firms_low} 至 {firms_high}{flag}。"),
    "pr.headline_range_flag": ("; ⚠ in {n} setting(s) the matched cut-off lies in a band with a default probability "
                               "above {limit}",
                               ";⚠ 其中 {n} 种设定下匹配的分数线落在违约概率高于 {limit} 的积分档"),
    "pr.sec_headline": ("## Headline: lending unlocked at the same expected loss", "## 要点:同等预期损失下释放的放贷"),
    "pr.one_formula": ("- Only one formula: nothing to compare.", "- 只有一个公式:无可比较。"),
    "pr.cannot": ("- `{formula}` cannot keep the expected loss of `{reference}` ({loss}) with any cut-off.",
                  "- `{formula}` 在任何分数线下都无法保持 `{reference}` 的预期损失({loss})。"),
    "pr.headline": ("- At the expected loss of `{reference}` ({loss}), `{formula}` qualifies everyone at or above "
                    "**{cutoff} points** ({firms} firms) and lends **{volume}** against {ref_volume}: "
                    "**{diff}**{ratio}.",
                    "- 在 `{reference}` 的预期损失({loss})下,`{formula}` 使 **{cutoff} 分**及以上的企业入选"
                    "({firms} 家),放贷 **{volume}**,对比 {ref_volume}:**{diff}**{ratio}。"),
    "pr.cutoff_note": ("The cut-off is the lowest national points threshold at which the formula's expected loss "
                       "stays within the reference's (binary search over the cumulative expected loss of the ranked "
                       "firms).",
                       "分数线为使该公式预期损失不超过参照公式的最低全国积分门槛(对排序企业的累计预期损失二分查找)。"),
    "pr.sec_formula": ("## Per formula", "## 各公式"),
    "pr.rule_cutoff": ("points cut-off {cutoff}", "积分分数线 {cutoff}"),
    "pr.rule_top": ("top {share} of firms", "企业前 {share}"),
    "pr.rule_province": (" within each province", "(各省分别计算)"),
    "pr.formula_note": ("Qualification: {rule}. Default-rate and loss intervals apply every band's 95% Wilson bound at "
                        "once (a conservative envelope). p99 loss and fund exhaustion come from {draws} one-factor "
                        "draws (correlation {correlation}, seed {seed}).",
                        "入选规则:{rule}。违约率和损失区间同时采用每个积分档的 95% Wilson 界(保守包络)。99% 分位损失"
                        "和资金池耗尽概率来自 {draws} 次单因子抽样(相关系数 {correlation},种子 {seed})。"),
    "pr.summary_head": ("| formula | qualified firms | expected loans | expected volume | default rate [interval] | "
                        "expected loss [interval] | banks | guarantee system | provincial funds | p99 loss | "
                        "any fund exhausted |",
                        "| 公式 | 入选企业 | 预期贷款笔数 | 预期放贷额 | 违约率 [区间] | 预期损失 [区间] | 银行 "
                        "| 担保体系 | 省级风险补偿资金 | 99% 分位损失 | 任一资金池耗尽 |"),
    "pr.bands_head": ("| band | points from | observed loans | defaults | observed rate | PD (monotone) [95%] | "
                      "firms (estimate year) | borrowers | take-up | mean yearly amount |",
                      "| 档 | 起始积分 | 已观察贷款 | 违约数 | 实际违约率 | 违约概率(单调)[95%] | 企业数(估计年份) "
                      "| 借款企业 | 使用率 | 年均贷款额 |"),
    "pr.province_head": ("| province | qualified | volume | expected loss | banks | guarantee | funds | fund size | "
                         "p99 loss | fund exhausted |",
                         "| 省份 | 入选 | 放贷额 | 预期损失 | 银行 | 担保 | 补偿资金 | 资金池规模 | 99% 分位损失 "
                         "| 资金池耗尽 |"),
    "pr.sec_assumptions": ("## Assumptions", "## 假设"),
    "pr.lgd": ("- Loss given default {lgd}, tenor {tenor} months.", "- 违约损失率 {lgd},期限 {tenor} 个月。"),
    "pr.guarantee": ("- Guarantee system: {share} of the loss on guaranteed loans (banks keep {keep}), guaranteed "
                     "principal capped at {cap} per firm; {guaranteed} of the volume is guaranteed.",
                     "- 担保体系:承担担保贷款损失的 {share}(银行保留 {keep}),每家企业担保本金上限 {cap};"
                     "{guaranteed} 的放贷额有担保。"),
    "pr.funds": ("- Provincial funds pay {coverage} of the banks' remaining loss",
                 "- 省级风险补偿资金承担银行剩余损失的 {coverage}"),
    "pr.funds_cap": (" (at most {cap} per loan)", "(每笔贷款最多 {cap})"),
    "pr.funds_size": ("; each fund is {ratio} of the reference formula's expected volume in its province (Hebei: "
                      "CNY 147 m behind CNY 310.7 bn) unless sized explicitly. Claims a fund cannot pay stay with the "
                      "banks.",
                      ";除非另行指定,各资金池规模为参照公式在该省预期放贷额的 {ratio}(河北:1.47 亿元对应 3107 亿元"
                      "贷款)。资金池无力支付的部分由银行承担。"),
    "pr.refinance": ("- Refinancing: {share} of the volume at a {advantage} rate advantage.",
                     "- 再贷款:{share} 的放贷额享有 {advantage} 的利率优惠。"),
    "pr.take_up": ("- Take-up per band is what firms in that band did under the formula in force; a formula that "
                   "qualifies firms banks did not see may be under-credited. Override it with `take_up.rate` to "
                   "compare on equal terms.",
                   "- 各档使用率取自现行公式下该档企业的实际行为;使银行未曾接触的企业入选的公式可能被低估。可用 "
                   "`take_up.rate` 覆盖,以在同等条件下比较。"),
    "pr.sec_sensitivity": ("## Headline under other assumptions", "## 其他假设下的要点"),
    "pr.sensitivity_note": ("Recomputed by expectation (no simulation) over the take-up settings and qualified "
                            "shares of `sensitivity`; the flat take-up 0.171 is the national reference (12,200 loans "
                            "÷ 71,435 qualified firms, 2024). ⚠ marks a marginal band PD above "
                            "`qualification.max_marginal_pd` ({limit}).",
                            "按期望值重新计算(不做模拟),覆盖 `sensitivity` 中的各种贷款使用率设定与入选比例;统一使用率 "
                            "0.171 为全国参考值(2024 年 12,200 笔贷款 ÷ 71,435 家入选企业)。⚠ 表示边际积分档的违约概率"
                            "高于 `qualification.max_marginal_pd`({limit})。"),
    "pr.sensitivity_head": ("| take-up | share | reference: firms, volume, loss, marginal PD | equal firms: volume, "
                            "loss, marginal PD | equal loss: firms, volume, marginal PD |",
                            "| 使用率 | 入选比例 | 参照:企业数、放贷额、损失、边际违约概率 | 同等企业数:放贷额、损失、"
                            "边际违约概率 | 同等损失:企业数、放贷额、边际违约概率 |"),
    "pr.cell_per_band": ("estimated per band", "按档估计"),
    "pr.cell_flat": ("{rate} flat", "统一 {rate}"),
    "pr.sec_marginal": ("## Marginal default probability of the cut-offs", "## 分数线处的边际违约概率"),
    "pr.sec_calibration": ("## Out-of-time check of the default probabilities", "## 违约概率的样本外检验"),
    "pr.sec_churn": ("## Qualified-set churn (a policy risk)", "## 入选名单变动(政策风险)"),
    "pr.churn_head": ("| by | group | reference | formula | change | kept |",
                      "| 维度 | 分组 | 参照 | 公式 | 变化 | 保留 |"),
    "pr.sec_funds": ("## Provincial funds: why they run out", "## 省级风险补偿资金:为何耗尽"),
    "pr.sec_every_assumption": ("## Every assumption: value and source", "## 全部假设:取值与来源"),
    "pr.assumptions_head": ("| assumption | how | value | source |", "| 假设 | 方式 | 取值 | 来源 |"),
    "pr.sens_line": ("`{label}` against `{reference}` over {n} settings: lending at equal expected loss "
                     "**{loss_low} to {loss_high}**; at an equal number of qualified firms lending {firms_low} to "
                     "{firms_high} and expected loss {lossf_low} to {lossf_high}.",
                     "`{label}` 对比 `{reference}`,共 {n} 种设定:同等预期损失下放贷额 **{loss_low} 至 "
                     "{loss_high}**;同等入选企业数下放贷额 {firms_low} 至 {firms_high},预期损失 {lossf_low} 至 "
                     "{lossf_high}。"),
    "pr.marginal_rule": ("- `{label}` at the policy rule: the lowest qualified firm scores {points} points, in band "
                         "{band} with PD {pd}{flag}",
                         "- `{label}` 按政策规则:入选企业的最低分为 {points} 分,位于第 {band} 档,违约概率 {pd}{flag}"),
    "pr.marginal_flag": (" ⚠ above the limit {limit}.", " ⚠ 高于上限 {limit}。"),
    "pr.marginal_end": (".", "。"),
    "pr.marginal_match": ("- `{formula}` at the reference's expected loss (cut-off {cutoff}): band {band}, PD {pd}"
                          "{flag}",
                          "- `{formula}` 在参照公式的预期损失下(分数线 {cutoff}):第 {band} 档,违约概率 {pd}{flag}"),
    "pr.marginal_match_flag": (" ⚠ above the limit {limit}: the match lends to firms riskier than the policy "
                               "allows; read its volume as an upper bound.",
                               " ⚠ 高于上限 {limit}:该匹配会贷给比政策允许风险更高的企业;其放贷额应视为上限。"),
    "pr.calib_none": ("- `{label}`: PDs fitted on {years}; no later year to check them on.",
                      "- `{label}`:违约概率拟合于 {years};没有更晚的年份可供检验。"),
    "pr.calib_check": ("- `{label}`: PDs fitted on {years}; on {year} ({loans} loans) they expect {expected} "
                       "defaults, {defaults} observed.",
                       "- `{label}`:违约概率拟合于 {years};在 {year} 年({loans} 笔贷款)预期违约 {expected} 笔,"
                       "实际 {defaults} 笔。"),
    "pr.churn_note": ("`{label}`: the formulas score different firms (stage rules or local indicators differ): no "
                      "firm-level churn.",
                      "`{label}`:两个公式计分的企业不同(阶段规则或地方指标不同):无法按企业计算名单变动。"),
    "pr.churn_line": ("`{label}` against `{reference}`: {kept} of {ref_n} qualified firms stay, {left} leave and "
                      "{entered} enter ({changed} of the firms qualified under either change). A group is flagged "
                      "(⚠) when its qualified firms move by at least {flag_change} with at least {min_firms} "
                      "qualified under one of the two. ",
                      "`{label}` 对比 `{reference}`:{ref_n} 家入选企业中 {kept} 家保留,{left} 家退出,{entered} 家"
                      "新入选(占任一公式下入选企业的 {changed})。某分组的入选企业变动至少 {flag_change} 且在任一"
                      "公式下至少有 {min_firms} 家入选时标记 ⚠。"),
    "pr.churn_flagged": ("**Flagged: {groups}.**", "**已标记:{groups}。**"),
    "pr.churn_none": ("Nothing flagged.", "无标记。"),
    "pr.funds_hold": ("The {n} provincial funds hold {total} together: each is {explicit}{ratio} of the reference "
                      "formula's expected volume in its province. A fund pays {coverage} of the banks' remaining "
                      "loss.",
                      "{n} 个省级资金合计 {total}:{explicit}每个资金为参照公式在该省预期放贷额的 {ratio}。资金"
                      "承担银行剩余损失的 {coverage}。"),
    "pr.funds_explicit": ("sized explicitly for {n} province(s) and otherwise ",
                          "{n} 个省份的资金规模单独设定,其余省份"),
    "pr.funds_line": ("- `{label}`: expected claims {claims}, {times}; expected shortfall {shortfall} (back to the "
                      "banks); P(at least one fund runs out) {p}.",
                      "- `{label}`:预期索赔 {claims},{times};预期缺口 {shortfall}(由银行承担);至少一个资金耗尽"
                      "的概率 {p}。"),
    "pr.funds_times": ("**{ratio} times** the funds' size", "为资金规模的 **{ratio} 倍**"),
    "pr.funds_none": ("no fund", "无资金"),
    "pr.funds_warning": ("When expected claims are near or above the funds' size, almost every scenario exhausts "
                         "some fund: the exhaustion probability then measures the size assumption, not the formula. "
                         "Set `funds.sizes` (or `funds.coverage`) for a real province before quoting it.",
                         "当预期索赔接近或超过资金规模时,几乎每个情景都会耗尽某个资金:此时耗尽概率反映的是规模假设,"
                         "而非公式本身。引用前请为实际省份设定 `funds.sizes`(或 `funds.coverage`)。"),
    "pr.sec_plots": ("## Plots", "## 图表"),
    "pr.refinancing": ("Refinancing: {volume} eligible, saving {saving} of interest over the tenor.",
                       "再贷款:符合条件 {volume},期限内节省利息 {saving}。"),
    "pr.sec_bands": ("### Points bands", "### 积分档"),
    "pr.sec_province": ("### By province", "### 分省"),
    "pr.banks": ("banks", "银行"),
    "pr.guarantee_system": ("guarantee system", "担保体系"),
    "pr.funds_name": ("provincial funds", "省级补偿资金"),
    "pr.fig_loss_x": ("expected loss (CNY 10k)", "预期损失(万元)"),
    "pr.fig_volume_y": ("expected lending volume (CNY 10k)", "预期放贷额(万元)"),
    "pr.fig_frontier": ("Lending against expected loss as the cut-off falls\n"
                        "(● policy rule, ★ at the reference's loss)",
                        "分数线下降时的放贷额与预期损失\n(● 政策规则,★ 参照公式的损失水平)"),
    "pr.fig_total_x": ("total loss (CNY 10k, to the 99.9th pct.); solid = expected, dashed = 99th pct.",
                       "总损失(万元,截至 99.9% 分位);实线 = 预期,虚线 = 99% 分位"),
    "pr.fig_density": ("density", "密度"),
    "pr.fig_distribution": ("Loss distribution (one-factor Gaussian copula)", "损失分布(单因子高斯 copula)"),
    "pr.fig_split": ("Who carries the expected loss", "预期损失由谁承担"),
    "pr.fig_exhausted_y": ("P(fund exhausted)", "资金池耗尽概率"),
    "pr.fig_exhaustion": ("Provincial compensation funds: probability of exhaustion", "省级风险补偿资金:耗尽概率"),
    # --------------------------------------------------------------------- figures of the reviewer report
    "fig.no_move": ("No points moved between A and B", "A 与 B 之间没有分值变动"),
    "fig.change_x": ("max points, B − A", "分值上限,B − A"),
    "fig.change_title": ("Points moved per indicator and stage", "各指标各阶段的分值变动"),
    "fig.observed": ("{label} observed", "{label} 实际"),
    "fig.fitted": ("{label} fitted", "{label} 拟合"),
    "fig.cal_x": ("points band on the test loans (1 = lowest points)", "测试贷款的积分档(1 = 最低分)"),
    "fig.cal_y": ("default rate", "违约率"),
    "fig.cal_title": ("Calibration: default rate by points band", "校准:各积分档的违约率"),
    "fig.cutoff": ("{name} qualifying cut-off", "{name} 入选分数线"),
    "fig.dist_x": ("points", "积分"),
    "fig.dist_y": ("firms", "企业数"),
    "fig.dist_title": ("Points distribution of the population", "企业总体的积分分布"),
}

# Labels of the figures in models/plots.py (keys as there), in Chinese.
PLOT_LABELS_ZH: dict[str, str] = {
    "shap_axis": "平均 |SHAP|(违约对数几率)",
    "group": "类别",
    "importance_title": "指标重要性(各次重拟合的平均 |SHAP|,95% 区间)",
    "group_title": "各类别重要性",
    "value_bins": "数值分箱",
    "missing": "缺失(n={n})",
    "bin_mean": "{name}(箱内均值)",
    "mean_shap": "平均 SHAP(违约对数几率)",
    "effect": "{name} 对违约风险的影响",
    "frontier_title": "准确度与相对基准的改动",
    "frontier_x": "每阶段最多变动的分值(基础分内)",
    "frontier_y": "训练集 AUC",
}
# The fragments of a refinement reason in Chinese, keyed like models.learning.refine.REASON_EN (same
# {names}); a reason is the concatenation of its fragments (Texts.reason).
REASON_ZH: dict[str, str] = {
    "sep": ";",
    "close": ")",
    "and": "且",
    "carrier.only": "簇内唯一成员",
    "carrier.dominant": "至少 {stable:.0%} 的重拟合中比每个孪生指标都重要",
    "carrier.preferred": "在重拟合波动范围内与 {others} 同等重要;优先选用,因为",
    "why.official": "属官方指标",
    "why.inflate": "更难虚增",
    "why.missing": "缺失值更少({missing:.1%},对比 {others_missing})",
    "why.incremental": "增量价值更高",
    "note.own": "在 {n} 次重拟合中有 {k} 次胜过最佳影子变量",
    "note.no_link": "与还款无可测关联:",
    "note.cluster_beats": ",其所在簇({members})为 {k} 次",
    "note.cluster_uncertain": ("关联证据不足:其所在簇在 {n} 次重拟合中有 {k} 次胜过最佳影子变量(规则:至少 "
                               "{stable:.0%} 为有关联,至多 {noise:.0%} 为无关联)"),
    "note.carries": "代表其所在簇(",
    "note.link": "可测关联:",
    "note.unstable": "有关联(",
    "note.unstable_tail": (")但方向不稳定:{share:.0%} 的重拟合为 {mode:+d},{opposite:.0%} 为相反方向(规则:"
                           "至少 {clear:.0%} 的重拟合方向明确,其中 {stable:.0%} 一致)"),
    "note.redundant": "与 {twins} 同向变动;`{carrier}` 代表该簇(",
    "note.redundant_own": ");单独而言,它",
    "r.conflict_more": "方向冲突:数值越高违约越多,但政策给予奖励",
    "r.conflict_fewer": "方向冲突:数值越高违约越少,但政策予以扣减",
    "r.conflict_tail": "({share:.0%} 的重拟合学到该方向,{opposite:.0%} 相反);推荐公式不给分",
    "r.not_scored": ";不计分",
    "r.no_points": ",但推荐公式不给分:在计分规则下,它相对其他指标的增量太小",
    "r.no_stage": ",但没有任何阶段的企业能具备该指标",
    "r.keep_or_reweight": ("保留或调整分值:平均 {mean:.1f} 分,基准为 {base:.1f} 分,但重拟合区间 "
                           "[{lo:.1f}, {hi:.1f}] 包含基准(规则:变动至少 {rule:g} 分且在区间之外)"),
    "r.reweight": "可预测还款,分值不同({base:.1f} → {mean:.1f})",
    "r.keep": "可按政策方向预测还款",
    "r.keep_reversed": "可预测还款",
    "r.add": "在基准指标之外仍可预测还款",
    "r.reversed": "与政策方向相反计分(数据驱动公式):数值越高得分越少;",
    "r.weak": "证据薄弱:仅因 {stages} 企业没有任何具可测关联的指标而计分;",
    "r.off_stages": ";{stages} 企业不得分(其贷款中至少 {share:.0%} 缺失该指标)",
    "r.evidence": (";重要性 {imp:.3f} [{imp_lo:.3f}, {imp_hi:.3f}]({n} 次重拟合);置换后 AUC 损失 "
                   "{inc:+.4f} [{inc_lo:+.4f}, {inc_hi:+.4f}]"),
}

# The policy report's assumptions table (rows written in English into policy.json by pipeline/policy.py):
# fixed phrases, then patterns for the phrases that carry values. A cell is translated piece by piece ("; ").
ASSUMPTIONS_ZH: dict[str, str] = {
    "qualification": "入选规则", "top share of firms": "按企业比例取前", "points cut-off": "积分分数线",
    "marginal band PD limit": "边际积分档违约概率上限", "flag above": "超过即标记",
    "default probability per band": "各档违约概率", "take-up": "贷款使用率", "flat in every band": "各档统一",
    "per band": "按档", "flat": "统一", "loan size (CNY 10k a year)": "贷款额(万元/年)",
    "loss given default": "违约损失率", "tenor (months)": "期限(月)", "default correlation": "违约相关性",
    "guarantee system's share of loss": "担保体系承担的损失比例", "guaranteed share of volume": "担保放贷额占比",
    "guarantee cap per firm (CNY 10k)": "每家企业担保上限(万元)", "fund coverage": "资金覆盖比例",
    "fund size per unit of volume": "每单位放贷额的资金规模", "funds sized explicitly": "单独设定规模的资金",
    "refinancing eligible share": "符合再贷款条件的比例", "Monte Carlo draws": "蒙特卡洛抽样次数",
    "set in the policy file": "政策文件设定", "default (docs/policy.md)": "默认值(docs/policy.md)",
    "default": "默认值", "none": "无", "default; an assumption": "默认值;为假设",
    "an assumption": "为假设", "an assumption, no published figure": "为假设,无公开数据",
    "default: 71,435 of 520,000 firms in 2024": "默认值:2024 年 520,000 家企业中 71,435 家",
    "default: Hebei, CNY 147 m behind CNY 310.7 bn": "默认值:河北,1.47 亿元资金支撑 3107 亿元贷款",
    "estimated: mean yearly amount of borrowing firms": "估计值:借款企业的年均借款额",
    "estimated from the loans table (guarantee == guarantee_fund)": "由贷款表估计(guarantee == guarantee_fund)",
    "training_years": "训练年份", "all_years": "全部年份",
}
ASSUMPTION_PATTERNS_ZH: tuple[tuple[str, str], ...] = (
    (r"^(\d+) bands, floor (\S+)$", r"\1 档,下限 \2"),
    (r"^fitted on the observed loans of (.+)$", r"拟合于 \1 年的已观察贷款"),
    (r"^checked out of time on (\d+)$", r"在 \1 年做样本外检验"),
    (r"^fitted on every observed year \((.+)\)$", r"拟合于全部已观察年份(\1)"),
    (r"^estimated from borrowing in (\d+) \(firm-weighted mean over bands\)$",
     r"由 \1 年的借款估计(各档按企业数加权平均)"),
    (r"^default: (.+)$", r"默认值:\1"),
)

PLOT_LABELS_EN: dict[str, str] = {
    "importance_title": "Indicator importance (mean |SHAP| over refits, 95% interval)",
    "group_title": "Importance by group",
}


def check_lang(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGS`, else a :class:`ConfigError` naming the accepted values."""
    if lang not in LANGS:
        raise ConfigError(f"--lang: {lang!r} is not a report language; use one of {', '.join(LANGS)}, e.g. --lang zh")
    return lang


class Texts:
    """The texts of one language: ``t(key, **values)``, indicator names, and the words of the results."""

    def __init__(self, lang: str = "en") -> None:
        self.lang = check_lang(lang)
        self._i = LANGS.index(lang)
        self._names = {ind.id: (ind.name_en, ind.name_zh) for ind in list_indicators()}

    def __call__(self, key: str, **values) -> str:
        return TEXTS[key][self._i].format(**values)

    @property
    def zh(self) -> bool:
        return self.lang == "zh"

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.lang]

    def term(self, word) -> str:
        """A word of the results (stage, group, verdict, slice column, ...) in the language."""
        text = str(word)
        if not self.zh:
            return text
        return TERMS_ZH.get(text, text)

    def stage(self, stage: str) -> str:
        """A lifecycle stage: ``startup 初创期`` in English reports (both), ``初创期`` in Chinese ones."""
        zh = STAGE_NAMES_ZH.get(stage, "")
        return (zh or stage) if self.zh else f"{stage} {zh}".strip()

    def slice_value(self, column: str, value) -> str:
        """A slice's value for people (stage, province, SME flag, ...): in Chinese reports the stage's and
        province's Chinese names and the flag as a term; in English ones the value as it is."""
        if not self.zh:
            return str(value)
        if column == "stage":
            return self.stage(str(value))
        if column == "province":
            return self.province(str(value))
        return self.term(value) if column == "is_sme" else str(value)

    def province(self, province: str) -> str:
        """A province: its Chinese name in Chinese reports, the contract's pinyin in English ones."""
        return PROVINCE_NAMES_ZH.get(province, province) if self.zh else province

    def group(self, group: str) -> str:
        """An indicator group (input, output, growth, financial, ...)."""
        return TERMS_ZH.get("growth_group" if group == "growth" else group, group) if self.zh else group

    def indicator(self, indicator_id: str, name_en: str | None = None, name_zh: str | None = None) -> str:
        """An indicator's name in the language: the catalog's, else the names given, else its id."""
        en, zh = self._names.get(indicator_id, (name_en, name_zh))
        en, zh = name_en or en, name_zh or zh
        return (zh or en or indicator_id) if self.zh else (en or zh or indicator_id)

    def plot_labels(self) -> Mapping[str, str]:
        return plot_labels(self.lang)

    def assumption(self, text) -> str:
        """A cell of the policy report's assumptions table in the language (English as written)."""
        import re

        text = str(text)
        if not self.zh:
            return text
        pieces = []
        for piece in text.split("; "):
            zh = ASSUMPTIONS_ZH.get(piece)
            if zh is None:
                for pattern, repl in ASSUMPTION_PATTERNS_ZH:
                    if re.match(pattern, piece):
                        zh = re.sub(pattern, repl, piece)
                        break
            pieces.append(piece if zh is None else zh)
        return ";".join(pieces)

    def reason(self, parts, english: str | None = None) -> str:
        """A refinement reason from its fragments (``reason_parts`` / ``note_parts``): the English text
        (``english`` when given, the refinement's own words) or the Chinese one, with stage names in Chinese
        and indicator ids as code."""
        from innopoints.models.learning.refine import render_reason  # the learning stack only when asked

        if not self.zh:
            return english if english is not None else render_reason(parts)

        def join(key: str, items) -> str:
            if key == "stages":
                return "、".join(self.stage(s) for s in items)
            return "、".join(f"{x:.1%}" if isinstance(x, float) else f"`{x}`" for x in items)

        return render_reason(parts, REASON_ZH, join_list=join)


def plot_labels(lang: str) -> dict[str, str]:
    """Labels for the figures of :mod:`innopoints.models.plots` in ``lang`` (English: their own defaults)."""
    return dict(PLOT_LABELS_ZH) if check_lang(lang) == "zh" else dict(PLOT_LABELS_EN)

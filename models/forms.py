"""Form models of human steps. A workflow validator checks submitted data against them
(with the chosen outcome in the validation context); clients get their JSON Schema.

Sandbox-safe: pydantic only. Messages are Chinese first, as clerks read them.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

RETURN_OUTCOMES = frozenset({"return_for_correction", "return"})


def outcome_of(info: ValidationInfo) -> str | None:
    ctx: dict[str, Any] = info.context or {}
    return ctx.get("outcome")


class Form(BaseModel):
    """Base of every step form: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmptyForm(Form):
    note: str = Field(default="", max_length=2000, title="备注")


class ReviewForm(Form):
    """A review that may send the case back one level, with its reasons (003 §6.1.4)."""

    reasons: list[str] = Field(default_factory=list, title="退回原因")
    note: str = Field(default="", max_length=2000, title="审核意见")

    @model_validator(mode="after")
    def _reasons_for_return(self, info: ValidationInfo) -> ReviewForm:
        if outcome_of(info) in RETURN_OUTCOMES and not [r for r in self.reasons if r]:
            raise ValueError("退回时必须填写退回原因 (reasons are required to return)")
        return self


class ArchiveReviewForm(Form):
    """档案审核 (003 §6.2.2). A return lists every missing or defective material at
    once: 一次性告知 (003 §7.6 d/e, §7.9.2)."""

    missing_materials: list[str] = Field(default_factory=list, title="缺少的材料")
    defective_materials: list[str] = Field(default_factory=list, title="需补正的材料")
    note: str = Field(default="", max_length=2000, title="审核意见")

    @model_validator(mode="after")
    def _list_everything_at_once(self, info: ValidationInfo) -> ArchiveReviewForm:
        items = [m for m in (*self.missing_materials, *self.defective_materials) if m]
        if outcome_of(info) == "return_for_correction" and not items:
            raise ValueError(
                "退回补正须一次性列明全部缺少或需补正的材料 (list every missing material)"
            )
        return self


class SupplementForm(Form):
    """补充材料: what the veteran handed in at the station (003 §7.8.3)."""

    received_materials: list[str] = Field(min_length=1, title="已收到的材料")
    note: str = Field(default="", max_length=2000, title="备注")


class InformationCollectionForm(Form):
    """信息采集/建档立卡 (003 §6.1.2–6.1.3)."""

    hukou_address: str = Field(min_length=2, max_length=200, title="户籍地址")
    education: str = Field(min_length=1, max_length=40, title="学历")
    service_branch: str = Field(default="", max_length=60, title="服役部队类别")
    awards: str = Field(default="", max_length=500, title="立功受奖")
    disability_level: str = Field(default="", max_length=20, title="伤残等级")
    photo_collected: bool = Field(default=False, title="已采集近期免冠照片")


class PartyTransferForm(Form):
    """党(团)组织关系转接 (001 第七条)."""

    receiving_organisation: str = Field(
        min_length=2, max_length=200, title="接收党(团)组织"
    )
    letter_number: str = Field(min_length=1, max_length=60, title="介绍信编号")
    transferred_on: date = Field(title="转接日期")


class RegistrationForm(Form):
    """退役报到 (003 §6.2.2)."""

    registration_number: str = Field(min_length=1, max_length=60, title="报到登记号")
    reported_on: date = Field(title="报到日期")


class DeskForm(Form):
    """One one-stop desk item: 办结 with a reference, or 不适用 with a reason."""

    reference: str = Field(default="", max_length=100, title="办理凭证号")
    reason: str = Field(default="", max_length=500, title="不适用原因")

    @model_validator(mode="after")
    def _reason_if_not_applicable(self, info: ValidationInfo) -> DeskForm:
        if outcome_of(info) == "not_applicable" and not self.reason:
            raise ValueError("选择“不适用”时必须填写原因 (a reason is required)")
        return self


class HomeVisitForm(Form):
    """入户走访 and the 联络服务卡 handed out (003 §6.2.1 c)."""

    visited_on: date = Field(title="走访日期")
    contact_card_number: str = Field(
        min_length=1, max_length=60, title="联络服务卡编号"
    )
    notes: str = Field(default="", max_length=2000, title="走访情况")


class ReturnHomeStartForm(Form):
    """Start data of a return-home case."""

    discharge_date: date | None = Field(default=None, title="退出现役日期")
    note: str = Field(default="", max_length=2000, title="备注")


class NoticeFailedForm(Form):
    """A notice that could not be delivered: resend it to a corrected address, or
    record how the person was informed instead (in person, by telephone)."""

    address: str = Field(default="", max_length=200, title="更正后的联系方式")
    note: str = Field(default="", max_length=2000, title="告知情况")

    @model_validator(mode="after")
    def _what_the_outcome_needs(self, info: ValidationInfo) -> NoticeFailedForm:
        outcome = outcome_of(info)
        if outcome == "resend" and len(self.address) < 3:
            raise ValueError("重新发送须填写更正后的联系方式 (a corrected address)")
        if outcome == "informed_otherwise" and not self.note:
            raise ValueError("须说明以何种方式告知本人 (how the person was informed)")
        return self


# --- return home, version 2 (issue 13: true to the standards) -------------------------

# 003 §6.1.2 a–h, word for word: the materials a station collects information from.
COLLECTION_MATERIALS: tuple[str, ...] = (
    "身份证",
    "户口本",
    "退役证或转业证或离退休证",
    "近期免冠照片",
    "学历证明",
    "立功受奖证件",
    "伤残证件、变动伤残证件(伤残军人提供)",
    "烈士证明书、因公牺牲军人证明书、病故军人证明书及亲属关系证明"
    "(烈士遗属、因公牺牲军人遗属、病故军人遗属提供)",
)
# 003 §6.9.2.2: a personnel file travels by 机要交通 or a courier, never by the veteran.
FILE_TRANSFER_MEANS = ("机要交通", "专人送达")
POLITICAL_STATUSES = ("中共党员", "中共预备党员", "共青团员", "群众")
PARTY_STATUSES = frozenset({"中共党员", "中共预备党员"})

FileTransferMeans = Literal["机要交通", "专人送达"]
PoliticalStatus = Literal["中共党员", "中共预备党员", "共青团员", "群众"]


def _options(values: tuple[str, ...]) -> dict[str, Any]:
    """Schema hint: the checklist a clerk ticks (free items may be added)."""
    return {"x-options": list(values)}


class FileReceiptForm(Form):
    """档案接收 (003 §6.9.2.2, §6.9.1.1 b; 001 第八条): who sent the personnel file,
    how it came, when. A file the veteran carried is not received (不应由本人自行携带)."""

    sending_unit: str = Field(min_length=2, max_length=200, title="移交单位")
    transfer_means: FileTransferMeans = Field(title="转递方式")
    received_on: date = Field(title="接收日期")
    sealed_intact: bool = Field(default=True, title="密封完好")
    note: str = Field(default="", max_length=2000, title="备注")


class ArchiveReviewFormV2(Form):
    """档案审核 (003 §6.2.2) with every answer 003 §7.6 allows: approve; return naming
    at once (a) what the veteran must bring or correct and (b) what the personnel file
    lacks, which the centre requests from the sending unit (003 §6.9.2.2); refuse with
    the reason (§7.6 f); not ours, naming the competent authority (§7.6 a)."""

    missing_materials: list[str] = Field(
        default_factory=list,
        title="本人需补交的材料",
        json_schema_extra=_options(COLLECTION_MATERIALS),
    )
    defective_materials: list[str] = Field(
        default_factory=list,
        title="本人需补正的材料",
        json_schema_extra=_options(COLLECTION_MATERIALS),
    )
    file_gaps: list[str] = Field(
        default_factory=list, title="档案缺少的材料(向移交单位函调)"
    )
    refusal_reason: str = Field(default="", max_length=1000, title="不予办理的理由")
    competent_authority: str = Field(default="", max_length=200, title="有权办理的机关")
    note: str = Field(default="", max_length=2000, title="审核意见")

    @model_validator(mode="after")
    def _what_the_outcome_needs(self, info: ValidationInfo) -> ArchiveReviewFormV2:
        outcome = outcome_of(info)
        items = [
            m
            for m in (
                *self.missing_materials,
                *self.defective_materials,
                *self.file_gaps,
            )
            if m
        ]
        if outcome == "return_for_correction" and not items:
            raise ValueError(
                "退回补正须一次性列明全部缺少或需补正的材料 (list every missing material)"
            )
        if outcome == "refuse" and not self.refusal_reason:
            raise ValueError("不予办理须说明理由 (a reason is required, 003 §7.6 f)")
        if outcome == "not_ours" and not self.competent_authority:
            raise ValueError(
                "不属于本中心职权范围的，须告知有权办理的机关 (name the competent authority)"
            )
        return self


class FileGapRequestForm(Form):
    """向移交单位函调档案材料 (003 §6.9.2.2): what came back, and how."""

    sending_unit: str = Field(min_length=2, max_length=200, title="移交单位")
    requested_on: date = Field(title="函调日期")
    received_materials: list[str] = Field(min_length=1, title="已收到的档案材料")
    transfer_means: FileTransferMeans = Field(title="转递方式")
    received_on: date = Field(title="收到日期")


class WelcomeForm(Form):
    """返乡迎接 (003 §6.2.1 a–b; 001 第十一条; 000 §5.1)."""

    welcomed_on: date = Field(title="迎接日期")
    activities: list[str] = Field(
        min_length=1,
        title="迎接活动",
        json_schema_extra=_options(
            (
                "返乡接待站接待",
                "佩戴红花",
                "发放报到须知等宣传材料",
                "集中欢迎仪式",
            )
        ),
    )
    note: str = Field(default="", max_length=2000, title="备注")


class HomeVisitFormV2(Form):
    """入户走访 — 退役返乡必访 and the station's 五关爱 (谈心谈话, 宣讲政策, 推介岗位;
    002 §5.4.2.1, §5.4.3.1; 003 §6.2.1 c), handing over the 联络服务卡."""

    visited_on: date = Field(title="走访日期")
    talk_notes: str = Field(
        min_length=2, max_length=2000, title="谈心谈话(所思所想所盼)"
    )
    policies_explained: str = Field(
        min_length=2, max_length=1000, title="宣讲的政策和优待措施"
    )
    jobs_recommended: str = Field(default="", max_length=1000, title="推介的岗位")
    contact_card_issued: bool = Field(default=False, title="已发放联络服务卡")

    @model_validator(mode="after")
    def _card_handed_over(self) -> HomeVisitFormV2:
        if not self.contact_card_issued:
            raise ValueError("入户走访须发放联络服务卡 (003 §6.2.1 c)")
        return self


class FileFilingForm(Form):
    """档案入档保管与数字档案 (001 第八条; 003 §6.1.5 一人一档, §6.9.1.1 b)."""

    filed_on: date = Field(title="入档日期")
    storage_location: str = Field(min_length=1, max_length=100, title="存放位置")
    digital_copy_made: bool = Field(default=False, title="已建立数字档案")

    @model_validator(mode="after")
    def _digital_copy(self) -> FileFilingForm:
        if not self.digital_copy_made:
            raise ValueError("须按规定建立数字档案 (001 第八条)")
        return self


class AdaptiveTrainingForm(Form):
    """适应性培训 offered to every veteran received this year (003 §6.3.3.3)."""

    offered_on: date = Field(title="告知日期")
    session: str = Field(default="", max_length=200, title="培训班次")
    reason: str = Field(default="", max_length=500, title="不参加原因")

    @model_validator(mode="after")
    def _what_the_outcome_needs(self, info: ValidationInfo) -> AdaptiveTrainingForm:
        outcome = outcome_of(info)
        if outcome == "enrolled" and not self.session:
            raise ValueError("报名参加须填写培训班次 (the session)")
        if outcome == "declined" and not self.reason:
            raise ValueError("本人不参加须记录原因 (a reason is required)")
        return self


class InformationCollectionFormV2(Form):
    """信息采集/建档立卡: the eight categories of 003 §6.1.3 with the service details,
    collected from the materials of 003 §6.1.2 a–h."""

    # 基本信息
    hukou_address: str = Field(min_length=2, max_length=200, title="基本信息·户籍地址")
    residence_address: str = Field(
        default="", max_length=200, title="基本信息·现居住地址"
    )
    # 组织生活和社会活动信息
    political_status: PoliticalStatus = Field(title="组织生活和社会活动·政治面貌")
    organisation: str = Field(
        default="", max_length=200, title="组织生活和社会活动·所在党(团)组织"
    )
    social_activities: str = Field(
        default="", max_length=500, title="组织生活和社会活动·参加社团及社会活动"
    )
    # 服役信息
    enlisted_on: date = Field(title="服役信息·入伍时间")
    discharged_on: date = Field(title="服役信息·退役时间")
    rank: str = Field(min_length=1, max_length=40, title="服役信息·军衔/职级")
    service_branch: str = Field(
        default="", max_length=60, title="服役信息·服役部队类别"
    )
    # 安置信息
    placement: str = Field(min_length=2, max_length=60, title="安置信息·安置方式")
    placement_unit: str = Field(default="", max_length=200, title="安置信息·安置单位")
    # 就业创业信息
    employment: str = Field(
        min_length=1, max_length=200, title="就业创业信息·就业创业状况"
    )
    # 教育培训信息
    education: str = Field(min_length=1, max_length=40, title="教育培训信息·学历")
    training_needs: str = Field(
        default="", max_length=500, title="教育培训信息·培训需求"
    )
    # 抚恤优待信息
    disability_level: str = Field(
        default="", max_length=20, title="抚恤优待信息·伤残等级"
    )
    preferential_treatment: str = Field(
        default="", max_length=500, title="抚恤优待信息·优待证及优抚待遇"
    )
    # 褒扬激励和特困低保信息
    awards: str = Field(default="", max_length=500, title="褒扬激励和特困低保·立功受奖")
    hardship: str = Field(
        default="", max_length=200, title="褒扬激励和特困低保·特困低保情况"
    )
    # 003 §6.1.2: what the information was taken from
    materials_checked: list[str] = Field(
        min_length=1,
        title="据以采集的材料",
        json_schema_extra=_options(COLLECTION_MATERIALS),
    )

    @model_validator(mode="after")
    def _service_dates(self) -> InformationCollectionFormV2:
        if self.discharged_on <= self.enlisted_on:
            raise ValueError("退役时间须晚于入伍时间 (discharge after enlistment)")
        return self


# The eight categories of 003 §6.1.3, as the collection form's titles group them.
COLLECTION_CATEGORIES = (
    "基本信息",
    "组织生活和社会活动",
    "服役信息",
    "安置信息",
    "就业创业信息",
    "教育培训信息",
    "抚恤优待信息",
    "褒扬激励和特困低保",
)


class ReportUpwardForm(Form):
    """上报省退役军人服务中心 (003 §6.1.4): the recorded hand-over above the city."""

    reported_on: date = Field(title="上报日期")
    channel: str = Field(min_length=2, max_length=100, title="上报方式")
    note: str = Field(default="", max_length=2000, title="备注")


class ReturnHomeStartFormV2(Form):
    """Start data of a return-home case (version 2): the political status decides the
    organisation transfer (党员 → 组织部, 团员 → 团委; 003 §6.2.2); empty: the registry's."""

    discharge_date: date | None = Field(default=None, title="退出现役日期")
    political_status: PoliticalStatus | None = Field(default=None, title="政治面貌")
    note: str = Field(default="", max_length=2000, title="备注")

"""Form models of human steps. A workflow validator checks submitted data against them
(with the chosen outcome in the validation context); clients get their JSON Schema.

Sandbox-safe: pydantic only. Messages are Chinese first, as clerks read them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

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

"""Valid form data for the steps of return-home version 2, shared by the workflow, API
and browser tests (each test changes what it is about)."""

from __future__ import annotations

from typing import Any

RECEIPT: dict[str, Any] = {
    "sending_unit": "某部政治工作部",
    "transfer_means": "机要交通",
    "received_on": "2026-11-02",
}
PARTY: dict[str, Any] = {
    "receiving_organisation": "东关村党支部",
    "letter_number": "D-7",
    "transferred_on": "2026-11-20",
}
REGISTRATION: dict[str, Any] = {
    "registration_number": "BD-1",
    "reported_on": "2026-11-21",
}
INFO: dict[str, Any] = {
    "hukou_address": "示范县城关镇东关村1号",
    "political_status": "中共党员",
    "enlisted_on": "2021-09-01",
    "discharged_on": "2026-09-01",
    "rank": "中士",
    "placement": "自主就业",
    "employment": "待业，有创业意向",
    "education": "高中",
    "materials_checked": ["身份证", "户口本", "退役证或转业证或离退休证"],
}
VISIT: dict[str, Any] = {
    "visited_on": "2026-11-05",
    "talk_notes": "希望在本地就业",
    "policies_explained": "自主就业扶持政策、优待证申领",
    "contact_card_issued": True,
}
WELCOME: dict[str, Any] = {
    "welcomed_on": "2026-11-02",
    "activities": ["佩戴红花", "集中欢迎仪式"],
}
FILING: dict[str, Any] = {
    "filed_on": "2026-11-10",
    "storage_location": "档案室A-3",
    "digital_copy_made": True,
}
REPORT: dict[str, Any] = {
    "reported_on": "2026-11-25",
    "channel": "退役军人信息管理系统",
}

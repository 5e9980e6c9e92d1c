"""Demo data (`vetflow seed-demo`; `vetflow dev` runs it on an empty database).

The startup loan's reference data (the lending banks and Qingdao's policy version) and
the aftercare benefits' reference figures are added once, also to a demo database
seeded before they existed.

The password `demo-password` exists only here: no account outside the demo has a
default password.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.aftercare_benefit import (
    ENSIGN_BASE_PAY,
    FUNERAL_GRANT,
    NATIONAL_INCOME,
    SURVIVOR_ALLOWANCE,
)
from models.aftercare_figures import period_of
from models.db import session_scope
from models.idnumber import make_id_number
from models.loan_policy import QINGDAO_2024
from models.loan_policy_store import row_of
from models.orgs import create_org_unit
from models.passwords import hash_password
from models.tables import (
    Account,
    AftercareFigure,
    AuditEvent,
    Bank,
    LoanPolicyVersion,
    OrgLevel,
    OrgUnit,
    Veteran,
)

DEMO_PASSWORD = "demo-password"  # noqa: S105 - demo data only, documented in README

# The one-stop hall (003 §6.2.2: 组织部, 人力资源和社会保障局, 医保局, 团委, 武装部, 银行;
# 001 第七条: 落户, 住房公积金): one clerk per desk, each with a B角 who is at work when
# the A角 is not (003 §7.7.2). (username, name, role, department)
DESK_CLERKS = [
    ("zuzhi", "组织部 马干事", "desk_party", "组织部"),
    ("tuanwei", "团委 林干事", "desk_league", "团委"),
    ("renshe", "人社局 何科员", "desk_social_insurance", "人力资源和社会保障局"),
    ("yibao", "医保局 罗科员", "desk_medical_insurance", "医保局"),
    ("wuzhuang", "武装部 高参谋", "desk_reserve", "武装部"),
    ("yinhang", "银行 梁柜员", "desk_bank", "银行"),
    ("gongan", "派出所 宋民警", "desk_hukou", "公安派出所"),
    ("gongjijin", "公积金中心 唐科员", "desk_housing_fund", "住房公积金管理中心"),
    ("anzhi", "安置科 韩科员", "desk_subsidy", "退役军人事务局安置科"),
]
DESK_ROLES = [role for _, _, role, _ in DESK_CLERKS]
# The desk clerk of each role (A角).
DESK_CLERK_OF = {role: username for username, _, role, _ in DESK_CLERKS}

# The startup loan's lending banks (承办银行): (code, name, integrated, webhook_url). An
# integrated bank answers by signed callback (POST /api/bank/callbacks); with no
# webhook address its pushes are only logged. Without an integration a clerk records
# the bank's decision (the bank_decision desk task).
DEMO_BANKS = [
    ("qdbank", "青岛银行", True, ""),
    ("icbc", "中国工商银行", True, ""),
    ("rcc", "农村信用合作社", False, ""),
]


def seed_loan_reference(s: Session) -> None:
    """The demo banks and the default policy version, each added once."""
    for code, name, integrated, url in DEMO_BANKS:
        if s.get(Bank, code) is None:
            s.add(Bank(code=code, name=name, integrated=integrated, webhook_url=url))
    if s.get(LoanPolicyVersion, QINGDAO_2024.version) is None:
        s.add(row_of(QINGDAO_2024, "system"))


# The aftercare benefits' reference figures: (kind, year, effective_from, 元, source).
# The national income is the National Bureau of Statistics' yearly communiqué's
# (domain.md §4 d); 2025's is left out: we hold no communiqué for it (NBS announced
# 56,502 元 on 2026-01-19, seen only as press reports), so a death in 2026 shows the
# quote refused until an admin adds it. The 少尉 base pay, 丧葬费 and 遗属生活补助 are
# not in our sources: demo values, labelled so, for an admin to replace with the
# local standard (POST /api/aftercare/figures).
NBS_COMMUNIQUE = (
    "国家统计局 {year}年国民经济和社会发展统计公报: 全国城镇居民人均可支配收入"
)
DEMO_FIGURE_SOURCE = (
    "演示数据，须由管理员按本地标准核实 "
    "(demo value: an admin must replace it with the local standard)"
)
DEMO_STANDARDS_FROM = date(2020, 1, 1)
DEMO_AFTERCARE_FIGURES = [
    (NATIONAL_INCOME, 2023, None, "51821.00", NBS_COMMUNIQUE.format(year=2023)),
    (NATIONAL_INCOME, 2024, None, "54188.00", NBS_COMMUNIQUE.format(year=2024)),
    (ENSIGN_BASE_PAY, None, DEMO_STANDARDS_FROM, "3500.00", DEMO_FIGURE_SOURCE),
    (FUNERAL_GRANT, None, DEMO_STANDARDS_FROM, "20000.00", DEMO_FIGURE_SOURCE),
    (SURVIVOR_ALLOWANCE, None, DEMO_STANDARDS_FROM, "1500.00", DEMO_FIGURE_SOURCE),
]


def seed_aftercare_reference(s: Session) -> None:
    """The demo's aftercare figures, each added once (by kind and year or date)."""
    for kind, year, effective_from, value, source in DEMO_AFTERCARE_FIGURES:
        period = period_of(kind, year, effective_from)
        found = s.exec(
            select(AftercareFigure.id).where(
                AftercareFigure.kind == kind, AftercareFigure.period == period
            )
        ).first()
        if found is None:
            s.add(
                AftercareFigure(
                    kind=kind,
                    year=year,
                    effective_from=effective_from,
                    period=period,
                    value=value,
                    source=source,
                )
            )


def seed_demo(engine: Engine) -> bool:
    """Load the demo organisation, accounts and veterans; False if data exists already."""
    with session_scope(engine) as s:
        if s.exec(select(OrgUnit.id)).first() is not None:
            if _is_demo(s):
                seed_loan_reference(s)
                seed_aftercare_reference(s)
            return False
        seed_loan_reference(s)
        seed_aftercare_reference(s)
        city = create_org_unit(s, "sfs", "示范市退役军人事务局", OrgLevel.city, None)
        county = create_org_unit(
            s, "sfx", "示范县退役军人服务中心", OrgLevel.county, city
        )
        chengguan = create_org_unit(
            s, "sfx-cgz", "城关镇退役军人服务站", OrgLevel.township, county
        )
        dongguan = create_org_unit(
            s, "sfx-cgz-dgc", "东关村退役军人服务站", OrgLevel.village, chengguan
        )
        nanguan = create_org_unit(
            s, "sfx-ngz", "南关镇退役军人服务站", OrgLevel.township, county
        )
        nanguan_v = create_org_unit(
            s, "sfx-ngz-ngc", "南关村退役军人服务站", OrgLevel.village, nanguan
        )
        # Where veterans find each unit: named in the notices they receive (003 §7.6).
        contacts = [
            (county, "示范县人民路88号", "0531-8000 1000"),
            (chengguan, "示范县城关镇政府院内", "0531-8000 2000"),
            (dongguan, "示范县城关镇东关村村委会", "0531-8000 2100"),
            (nanguan, "示范县南关镇政府院内", "0531-8000 3000"),
            (nanguan_v, "示范县南关镇南关村村委会", "0531-8000 3100"),
        ]
        contacts.insert(0, (city, "示范市建设路1号", "0531-8000 0100"))
        for unit, address, phone in contacts:
            unit.address, unit.phone = address, phone
            s.add(unit)
        pw = hash_password(DEMO_PASSWORD)
        # (username, name, roles, unit, B角). Every clerk has a backup (003 §7.7.2).
        accounts = [
            ("admin", "系统管理员", ["admin"], county, None),
            ("manager", "王主任", ["manager"], county, None),
            ("auditor", "李审计", ["auditor"], county, None),
            ("city", "曹科员", ["city_staff"], city, "city2"),
            ("city2", "袁科员", ["city_staff"], city, "city"),
            ("county", "赵科员", ["county_staff"], county, "county2"),
            ("county2", "钱科员", ["county_staff"], county, "county"),
            ("township", "周站长", ["township_staff"], chengguan, "township_b"),
            ("township_b", "邓副站长", ["township_staff"], chengguan, "township"),
            ("village", "吴信息员", ["village_staff"], dongguan, "village2"),
            ("village2", "郑信息员", ["village_staff"], dongguan, "village"),
            ("township2", "冯站长", ["township_staff"], nanguan, "township2_b"),
            ("township2_b", "许副站长", ["township_staff"], nanguan, "township2"),
            ("nvillage", "陈信息员", ["village_staff"], nanguan_v, "nvillage2"),
            ("nvillage2", "蒋信息员", ["village_staff"], nanguan_v, "nvillage"),
            # The monthly payroll (000 §6.4): prepared by finance, approved by a leader.
            ("finance", "孙会计", ["finance_staff"], county, "finance2"),
            ("finance2", "林出纳", ["finance_staff"], county, "finance"),
            ("leader", "刘副主任", ["leader"], county, "leader2"),
            ("leader2", "杜副主任", ["leader"], county, "leader"),
        ]
        for username, name, role, _dept in DESK_CLERKS:
            accounts += [
                (username, name, [role], county, f"{username}2"),
                (f"{username}2", f"{name}(B角)", [role], county, username),
            ]
        for i, (username, name, roles, unit, backup) in enumerate(accounts):
            s.add(
                Account(
                    username=username,
                    display_name=name,
                    password_hash=pw,
                    roles=roles,
                    org_unit_id=unit.id or 0,
                    email=f"{username}@demo.vetflow.local",
                    # The office phone named on the 联系服务卡 (003 §7.8.2).
                    phone=f"{unit.phone}-{801 + i}",
                    backup_username=backup,
                )
            )
        veterans = [
            (
                "张伟",
                "男",
                "自主就业退役士兵",
                True,
                dongguan,
                date(2002, 3, 14),
                "011",
            ),
            (
                "刘洋",
                "男",
                "逐月领取退役金退役军人",
                False,
                dongguan,
                date(1985, 7, 2),
                "031",
            ),
            ("陈静", "女", "转业军官", True, dongguan, date(1988, 11, 23), "042"),
            (
                "杨磊",
                "男",
                "自主就业退役士兵",
                False,
                nanguan_v,
                date(2001, 1, 9),
                "053",
            ),
            ("黄建国", "男", "军休干部", True, chengguan, date(1950, 8, 1), "015"),
        ]
        for i, (name, gender, category, party, unit, born, seq) in enumerate(veterans):
            s.add(
                Veteran(
                    name=name,
                    id_number=make_id_number("370102", born, seq),
                    gender=gender,
                    phone=f"1380000{i:04d}",
                    email=f"veteran{i + 1}@demo.vetflow.local",
                    category=category,
                    party_member=party,
                    org_unit_id=unit.id or 0,
                )
            )
        s.add(
            AuditEvent(
                actor="system",
                action="seed_demo",
                entity_type="system",
                entity_id="demo",
            )
        )
    return True


def _is_demo(s: Session) -> bool:
    """Whether the database holds the demo data (never a real office's)."""
    seeded = select(AuditEvent.id).where(AuditEvent.action == "seed_demo")
    return s.exec(seeded).first() is not None

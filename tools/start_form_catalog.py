"""English for the start pages (a process whose start form has a required field is
started from its own page: a retired cadre's death report, the last contact with one
out of contact), merged into tools/english_catalog.py's EN."""

from __future__ import annotations

START_FORM_EN = {
    "提交受理": "Start the case",
    "该退役军人已有同类案件": "This veteran already has a case of this process",
    "覆盖依据(本人遗愿/家属申请)": "Basis for the covering (own wish / family's application)",
    "情况说明": "Circumstances",
}

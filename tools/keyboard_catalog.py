"""English for the keyboard and form-error texts of the staff pages (issue 14: the skip
link in base.html, the error summary, required marks and date hint of
api/templates/tasks/_fields.html, the login form; merged into tools/english_catalog.py's
EN)."""

from __future__ import annotations

KEYBOARD_EN = {
    "跳到主要内容": "Skip to main content",
    "未能提交：有{n}处需要修改": "Not submitted: fields to correct: {n}",
    "标 * 的为必填项": "Fields marked * are required",
    "必填": "required",
    "日期格式: 年-月-日，如 2026-09-01": "Date as year-month-day, e.g. 2026-09-01",
}

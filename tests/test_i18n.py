"""Every page text has an English translation (Chinese is the source language)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from api.web.i18n import Translator, _catalog
from tools.english_catalog import dynamic_ids

ROOT = Path(__file__).resolve().parent.parent


def test_catalog_covers_every_page_text():
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {
        msg if isinstance(msg, str) else msg[0]
        for _file, _line, msg, _comments, _ctx in extract_from_dir(
            str(ROOT / "api"), method_map, keywords={"_": None, "gettext": None}
        )
    }
    english = _catalog("en")
    missing = sorted((found | dynamic_ids()) - set(english))
    assert not missing, (
        f"add these to tools/english_catalog.py and regenerate: {missing}"
    )


def test_translator_formats_and_falls_back():
    en, zh = Translator("en"), Translator("zh-CN")
    assert en.gettext("剩余{n}个工作日", n=3) == "3 working days left"
    assert zh.gettext("剩余{n}个工作日", n=3) == "剩余3个工作日"
    assert en.gettext("没有这条") == "没有这条"

"""The version-2 return-home definition against the seeds, without a server: what is
collected, from which materials, and how long the path to registration may take."""

from __future__ import annotations

from models.forms import (
    COLLECTION_CATEGORIES,
    COLLECTION_MATERIALS,
    InformationCollectionFormV2,
)
from models.processes.return_home import SPEC_V2, SPECS, STANDARD_POLICY


def test_collection_form_covers_the_eight_categories_of_003_6_1_3():
    titles = [f.title or "" for f in InformationCollectionFormV2.model_fields.values()]
    assert len(COLLECTION_CATEGORIES) == 8
    for category in COLLECTION_CATEGORIES:
        assert any(t.startswith(category + "·") for t in titles), category
    service = {t for t in titles if t.startswith("服役信息·")}
    assert {"服役信息·入伍时间", "服役信息·退役时间", "服役信息·军衔/职级"} <= service


def test_materials_are_003_6_1_2_a_to_h_on_the_steps_that_use_them():
    assert len(COLLECTION_MATERIALS) == 8  # a) … h)
    assert COLLECTION_MATERIALS[1] == "户口本"
    assert "变动伤残证件" in COLLECTION_MATERIALS[6]
    with_materials = {s.key for s in SPEC_V2.steps if s.materials}
    assert with_materials == {"archive_review", "information_collection"}
    assert all(
        s.materials == COLLECTION_MATERIALS for s in SPEC_V2.steps if s.materials
    )


def test_registration_falls_inside_the_30_days_to_report():
    """退役军人安置条例 第51条: 30 days to report. The standard limits on the path
    file receipt → review → transfer → registration stay within 21 working days."""
    path = ("file_receipt", "archive_review", "party_transfer", "registration")
    days = sum(STANDARD_POLICY.for_step(s).working_days or 0 for s in path)
    assert days <= 21


def test_both_versions_are_released():
    assert set(SPECS) == {1, 2} and SPECS[2] is SPEC_V2
    assert SPEC_V2.first == "file_receipt"
    assert SPEC_V2.excluded_categories.keys() == {"军休干部", "军休士官"}

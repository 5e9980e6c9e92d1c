"""Step forms in the browser: which field kind each schema property becomes, and the
submitted HTML form back into step data (no server needed)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from api.web.forms import STANDARD_MATERIALS, Field, data_from_form, fields_of
from models.forms import (
    COLLECTION_MATERIALS,
    FILE_TRANSFER_MEANS,
    POLITICAL_STATUSES,
    ArchiveReviewForm,
    ArchiveReviewFormV2,
    FileGapRequestForm,
    FileReceiptForm,
    InformationCollectionFormV2,
    ReturnHomeStartFormV2,
    SupplementForm,
)


def _by_name(
    schema: dict[str, Any],
    values: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Field]:
    return {f.name: f for f in fields_of(schema, values or {}, context or {})}


def test_x_options_give_a_checklist_of_exactly_those_options() -> None:
    fields = _by_name(ArchiveReviewFormV2.model_json_schema())
    for name in ("missing_materials", "defective_materials"):
        assert fields[name].kind == "checklist"
        assert fields[name].options == list(COLLECTION_MATERIALS)
    assert fields["file_gaps"].kind == "list"  # no x-options: one item per line
    collection = _by_name(InformationCollectionFormV2.model_json_schema())
    assert collection["materials_checked"].kind == "checklist"
    assert collection["materials_checked"].options == list(COLLECTION_MATERIALS)
    assert collection["materials_checked"].required


def test_version_1_forms_keep_the_standard_materials() -> None:
    fields = _by_name(ArchiveReviewForm.model_json_schema())
    assert fields["missing_materials"].kind == "checklist"
    assert fields["missing_materials"].options == list(STANDARD_MATERIALS)


def test_received_materials_are_what_was_requested() -> None:
    requested = {"requested_materials": ["户口本", "学历证明"]}
    for form in (SupplementForm, FileGapRequestForm):
        fields = _by_name(form.model_json_schema(), context=requested)
        assert fields["received_materials"].kind == "checklist"
        assert fields["received_materials"].options == ["户口本", "学历证明"]


def test_a_literal_gives_a_select() -> None:
    fields = _by_name(FileReceiptForm.model_json_schema())
    means = fields["transfer_means"]
    assert means.kind == "select"
    assert means.options == ["机要交通", "专人送达"] == list(FILE_TRANSFER_MEANS)
    assert means.required
    assert fields["received_on"].kind == "date"
    assert fields["sealed_intact"].kind == "bool"
    assert fields["sending_unit"].kind == "text"


def test_an_optional_literal_gives_a_select_that_may_stay_empty() -> None:
    fields = _by_name(ReturnHomeStartFormV2.model_json_schema())
    status = fields["political_status"]
    assert status.kind == "select"
    assert status.options == list(POLITICAL_STATUSES)
    assert not status.required
    assert status.value is None
    assert status.title == "政治面貌"
    assert fields["discharge_date"].kind == "date"  # Optional[date]: still a date


def test_values_are_shown_again() -> None:
    fields = _by_name(
        FileReceiptForm.model_json_schema(), values={"transfer_means": "专人送达"}
    )
    assert fields["transfer_means"].value == "专人送达"


def test_a_select_and_a_checklist_round_trip() -> None:
    schema = FileReceiptForm.model_json_schema()
    form = FormData(
        [
            ("sending_unit", " 某部政治工作部 "),
            ("transfer_means", "机要交通"),
            ("received_on", "2025-03-01"),
            ("sealed_intact", "on"),
            ("note", ""),
        ]
    )
    data = data_from_form(schema, form)
    assert data == {
        "sending_unit": "某部政治工作部",
        "transfer_means": "机要交通",
        "received_on": "2025-03-01",
        "sealed_intact": True,
    }
    assert FileReceiptForm.model_validate(data).transfer_means == "机要交通"

    review = ArchiveReviewFormV2.model_json_schema()
    form = FormData(
        [
            ("missing_materials", COLLECTION_MATERIALS[0]),
            ("missing_materials", COLLECTION_MATERIALS[4]),
            ("missing_materials__other", "退伍证明原件\n\n身份证\n"),
            ("defective_materials__other", ""),
            ("file_gaps__other", "入伍审批表"),
        ]
    )
    data = data_from_form(review, form)
    assert data["missing_materials"] == [
        COLLECTION_MATERIALS[0],
        COLLECTION_MATERIALS[4],
        "退伍证明原件",
    ]
    assert "defective_materials" not in data
    assert data["file_gaps"] == ["入伍审批表"]
    shown = _by_name(review, values=data)["missing_materials"]
    assert shown.value == data["missing_materials"]
    assert ArchiveReviewFormV2.model_validate(data).file_gaps == ["入伍审批表"]


def test_an_empty_select_is_left_out() -> None:
    schema = ReturnHomeStartFormV2.model_json_schema()
    assert data_from_form(schema, FormData([("political_status", "")])) == {}
    data = data_from_form(schema, FormData([("political_status", "共青团员")]))
    assert data == {"political_status": "共青团员"}
    assert ReturnHomeStartFormV2.model_validate(data).political_status == "共青团员"

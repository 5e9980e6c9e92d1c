from datetime import date

import pytest

from models.idnumber import make_id_number, mask_id_number, validate_id_number


def test_known_valid_number_and_lowercase_x():
    assert validate_id_number("11010519491231002X") == "11010519491231002X"
    assert validate_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1101051949123100", "18"),
        ("11010519491231002A", "数字"),
        ("110105194913310029", "出生"),
        ("110105194912310021", "校验"),
    ],
)
def test_invalid_numbers_say_why(value, why):
    with pytest.raises(ValueError, match=why):
        validate_id_number(value)


def test_make_and_mask():
    n = make_id_number("370102", date(2000, 2, 29), "123")
    assert validate_id_number(n) == n
    assert mask_id_number("11010519491231002X") == "1101**********002X"

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


def test_make_id_number_computes_the_published_check_character():
    # 11010519491231002X is the example of GB 11643-1999.
    assert make_id_number("110105", date(1949, 12, 31), "002") == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (" 11010519491231002X ", None),  # surrounding blanks are dropped
        ("110105189912310025", "出生"),  # born before 1900
        ("110105299912310025", "出生"),  # born in the future
        ("11010519490230002X", "出生"),  # 30 February
    ],
)
def test_birth_dates_and_blanks(value, why):
    if why is None:
        assert validate_id_number(value) == value.strip()
    else:
        with pytest.raises(ValueError, match=why) as err:
            validate_id_number(value)
        assert "birth date" in str(err.value)  # the English half of the message


def test_masking_keeps_four_and_four():
    masked = mask_id_number("370102200203140113")
    assert masked == "3701**********0113" and len(masked) == 18

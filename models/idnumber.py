"""Chinese resident ID numbers (居民身份证号码, GB 11643-1999): check and mask."""

from __future__ import annotations

from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return CHECK_CHARS[
        sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11
    ]


def validate_id_number(value: str) -> str:
    """The normalised ID number, or ValueError saying what is wrong (Chinese + English)."""
    s = value.strip().upper()
    if len(s) != 18:
        raise ValueError("身份证号必须为18位 (an ID number has 18 characters)")
    if not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        raise ValueError(
            "身份证号前17位须为数字，末位为数字或X (17 digits and a digit or X)"
        )
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        raise ValueError(
            "身份证号中的出生日期无效 (the birth date is invalid)"
        ) from None
    if born.year < 1900 or born > date.today():  # noqa: DTZ011 - a calendar date, no time zone involved
        raise ValueError("身份证号中的出生日期无效 (the birth date is invalid)")
    if check_char(s[:17]) != s[17]:
        raise ValueError("身份证号校验位错误 (the check digit does not match)")
    return s


def mask_id_number(value: str) -> str:
    """Show the first 4 and last 4 characters only: `1101**********123X`."""
    return (
        value[:4] + "*" * (len(value) - 8) + value[-4:]
        if len(value) > 8
        else "*" * len(value)
    )


def make_id_number(region6: str, birth: date, seq3: str) -> str:
    """A well-formed ID number (demo data and tests)."""
    first17 = f"{region6}{birth:%Y%m%d}{seq3}"
    return first17 + check_char(first17)

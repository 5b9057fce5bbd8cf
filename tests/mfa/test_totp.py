"""`totp.matching_step` at a fixed time: the drift window and the code's shape (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from notes_api.mfa import totp

# RFC 6238 appendix B: the ASCII secret "12345678901234567890" (base32 below) gives 89005924
# (eight digits) at 1234567890 s, so 005924 with six. An independent oracle for the step.
SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
AT = datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)  # 1234567890 s, inside step 41152263
STEP = 1234567890 // 30


def code_of(offset: int) -> str:
    """What an authenticator app shows `offset` steps away from AT (pyotp, not the module)."""
    return pyotp.TOTP(SECRET).at(AT + timedelta(seconds=30 * offset))


def test_the_fixed_time_gives_the_rfc_6238_code() -> None:
    assert totp.matching_step(SECRET, "005924", AT) == STEP


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_the_current_step_and_one_either_side_are_accepted(offset: int) -> None:
    assert totp.matching_step(SECRET, code_of(offset), AT) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_two_steps_away_is_refused(offset: int) -> None:
    # A code of the window would also match: make sure the refusal is about the drift.
    assert code_of(offset) not in {code_of(-1), code_of(0), code_of(1)}
    assert totp.matching_step(SECRET, code_of(offset), AT) is None


@pytest.mark.parametrize(
    "malformed",
    [
        "00592",  # the right code, a digit short
        "0059240",  # the right code, a digit more
        "005924 ",
        " 005924",
        "0059z4",
        "\uff10\uff10\uff15\uff19\uff12\uff14",  # the right code in full-width digits
        "",
    ],
)
def test_non_digit_and_wrong_length_codes_are_refused(malformed: str) -> None:
    assert totp.matching_step(SECRET, malformed, AT) is None

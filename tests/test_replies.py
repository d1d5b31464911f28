"""Reply reading (SPEC §9), table-driven."""

from __future__ import annotations

import pytest

from bot.flows.model import Expect
from bot.flows.replies import parse_choice, parse_number, parse_reply, parse_text, parse_yesno

NUMBERS = [
    ("7", 7), (" 7 ", 7), ("about a 7", 7), ("seven", 7), ("Seven.", 7), ("It's a 7 today", 7),
    ("7/10", 7), ("7 / 10", 7), ("7 out of 10", 7), ("10/10", 10), ("0", 0), ("zero", 0),
    ("twenty", 20), ("thirteen", 13), ("I'd say 4", 4), ("4!!!", 4), ("7 7", 7),
    ("6.5", 6.5), ("7️⃣", 7), ("٧", 7),
]
NOT_NUMBERS = ["7 or 8", "7-8", "between 3 and 5", "bad", "", "   ", "😭", "很痛", "eleven 12",
               # half a fraction, a scale word or sums: the value would be invented
               "out of 10", "/10", "10/", "outta 10", "seven hundred quintillion",
               "2 thousand", "a million", "=1+1", "2*3", "5^2"]


@pytest.mark.parametrize(("text", "value"), NUMBERS)
def test_numbers_are_read(text, value):
    parsed = parse_number(text, 0, 20)
    assert parsed.ok and parsed.value == value


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_unclear_numbers_are_reasked(text):
    assert not parse_number(text, 0, 20).ok


@pytest.mark.parametrize("text", ["11", "-", "eleven", "12/10"])
def test_numbers_out_of_range_are_reasked(text):
    assert not parse_number(text, 0, 10).ok


YES = ["yes", "Y", "yeah", "Yep!", "sure", "ok", "OK.", "okay", "yes please", "👍", "Sure thing"]
NO = ["no", "N", "nope", "nah", "No thanks", "not really", "NO!", "👎"]
NEITHER = ["maybe", "not sure", "yes and no", "", "🤷", "はい"]


@pytest.mark.parametrize("text", YES)
def test_yes_variants(text):
    assert parse_yesno(text).value is True


@pytest.mark.parametrize("text", NO)
def test_no_variants(text):
    parsed = parse_yesno(text)
    assert parsed.ok and parsed.value is False


@pytest.mark.parametrize("text", NEITHER)
def test_unclear_yesno(text):
    assert not parse_yesno(text).ok


SKILLS = Expect(type="choice", options=(
    ("pacing", ("1", "pace", "breaks")),
    ("sleep", ("2", "bedtime", "sleep routine")),
    ("relaxation", ("3", "relax", "deep breathing", "all")),
    ("activity", ("4", "walk", "all")),
))
CHOICES = [("pacing", "pacing"), ("PACING!", "pacing"), ("2", "sleep"), ("bedtime.", "sleep"),
           ("I think pacing", "pacing"), ("maybe a walk?", "activity"),
           ("some deep breathing", "relaxation"), ("Sleep Routine", "sleep")]


@pytest.mark.parametrize(("text", "value"), CHOICES)
def test_choice_by_whole_reply_or_word(text, value):
    assert parse_choice(text, SKILLS).value == value


@pytest.mark.parametrize("text", ["pacing and sleep", "all", "nothing", "", "🙂", "σ"])
def test_choice_single_needs_exactly_one(text):
    assert not parse_choice(text, SKILLS).ok


MULTI = Expect(type="choice", options=SKILLS.options, multiple=True)


@pytest.mark.parametrize(("text", "values"), [
    ("1 3", ["pacing", "relaxation"]), ("1,3", ["pacing", "relaxation"]),
    ("pacing and sleep", ["pacing", "sleep"]), ("sleep and pacing", ["pacing", "sleep"]),
    ("2", ["sleep"]), ("all", ["relaxation", "activity"]), ("breaks, walk 2", ["pacing", "sleep",
                                                                                 "activity"]),
])
def test_choice_multiple_gives_a_list(text, values):
    assert parse_choice(text, MULTI).value == values


def test_choice_multiple_with_nothing_matching_is_reasked():
    assert not parse_choice("none of them", MULTI).ok


@pytest.mark.parametrize(("text", "ok"), [("walk 10 min 🚶", True), ("   ", False),
                                          ("x" * 161, False), ("мне больно", True)])
def test_text_is_stored_as_sent(text, ok):
    parsed = parse_text(text, 160)
    assert parsed.ok is ok and (not ok or parsed.value == text.strip())


@pytest.mark.parametrize("kind", ["number", "yesno", "choice", "text"])
@pytest.mark.parametrize("text", ["\x00", "🔥" * 500, "ي" * 50, "\u202e7", "7" * 400, "½", "Ⅶ"])
def test_odd_input_never_crashes(kind, text):
    expect = SKILLS if kind == "choice" else Expect(type=kind, min=0, max=10)
    parse_reply(expect, text)


def test_a_number_too_big_for_a_float_is_reasked_not_saved_as_infinity():
    """"999...9" used to read as inf when the step has no max; JSON (PostgreSQL) refuses it."""
    assert not parse_number("9" * 400).ok
    assert parse_number("1000000").value == 1000000


@pytest.mark.parametrize(("text", "values"), [
    ("three", ["relaxation"]), ("One and three", ["pacing", "relaxation"]), ("two, 4", ["sleep",
                                                                                     "activity"]),
])
def test_choice_numbers_spelled_out_match_numbered_options(text, values):
    """A veteran reading "1 Pacing ... 3 Relaxation" may text "three" rather than "3"."""
    assert parse_choice(text, MULTI).value == values
    if len(values) == 1:
        assert parse_choice(text, SKILLS).value == values[0]


@pytest.mark.parametrize(("text", "values"), [("the sleep one", ["sleep"]),
                                              ("that one, pacing", ["pacing"])])
def test_choice_one_as_a_word_is_not_option_1(text, values):
    """Only a reply made of numbers reads spelled numbers: "the sleep one" is not option 1."""
    assert parse_choice(text, MULTI).value == values


def test_choice_a_spelled_number_listed_as_a_synonym_keeps_its_option():
    expect = Expect(type="choice", options=(("solo", ("1", "one", "alone")), ("group", ("2",))))
    assert parse_choice("one", expect).value == "solo"
    assert parse_choice("two", expect).value == "group"


@pytest.mark.parametrize("text", ["1 9", "2, 12", "pacing and 7", "nine and one", "0"])
def test_choice_a_number_that_is_no_option_is_reasked(text):
    """Options 1-4: "1 9" is a typo or a misreading, so keeping 1 and dropping 9 would guess."""
    assert not parse_choice(text, MULTI).ok
    assert not parse_choice(text, SKILLS).ok


def test_choice_numbers_are_only_checked_when_options_are_numbered():
    expect = Expect(type="choice", options=(("morning", ("am",)), ("evening", ("pm",))))
    assert parse_choice("evening, after 7", expect).value == "evening"


@pytest.mark.parametrize("text", ["all but sleep", "all except 2", "everything but bedtime, all",
                                  "pacing, not sleep", "pacing and no walk", "all without 4",
                                  "pacing but not sleep"])
def test_choice_an_exception_is_reasked_not_ignored(text):
    """"all but sleep" used to pick sleep too: the word taking it back was just skipped."""
    assert not parse_choice(text, MULTI).ok


@pytest.mark.parametrize("text", ["not pacing", "sleep, not pacing"])
def test_choice_single_negated_option_is_reasked(text):
    assert not parse_choice(text, SKILLS).ok


def test_choice_a_negating_word_that_is_an_option_still_matches():
    expect = Expect(type="choice", options=(("none", ("no", "not sure")), ("some", ("yes",))))
    assert parse_choice("no", expect).value == "none"
    assert parse_choice("I'm not sure", expect).value == "none"


@pytest.mark.parametrize("text", ["1-3", "1 - 4", "2–4", "1 to 3", "2 thru 4"])
def test_choice_a_range_of_numbers_is_reasked(text):
    """"1-3" used to pick 1 and 3 only; whether 2 is meant is a guess, so it is asked again."""
    assert not parse_choice(text, MULTI).ok


@pytest.mark.parametrize(("text", "value"), [("-3", -3), ("about -2", -2), ("−4", -4)])
def test_a_minus_sign_is_kept(text, value):
    """"-3" used to read as 3: on a 0-10 scale it is re-asked, with no minimum it is -3."""
    assert parse_number(text).value == value
    assert not parse_number(text, 0, 10).ok


@pytest.mark.parametrize(("text", "value"), [("1,000", 1000), ("about 2,500 steps", 2500),
                                             ("1,234,567", 1234567), ("7,7", 7)])
def test_a_comma_groups_thousands(text, value):
    """"1,000" used to read as 1: the comma was taken for a decimal point."""
    assert parse_number(text).value == value


@pytest.mark.parametrize("text", ["7,8", "6,5", "1,00", "1,0000"])
def test_a_comma_between_other_digits_is_two_numbers(text):
    """"7,8" is "7 or 8" as often as 7.8: re-asked, like "7 or 8", rather than saved as 7.8."""
    assert not parse_number(text).ok


@pytest.mark.parametrize(("text", "value"), [("nine and a half", 9.5), ("about 6 and a half", 6.5),
                                             ("7 & a half", 7.5)])
def test_and_a_half_is_kept(text, value):
    """"nine and a half" used to read as 9: the half was dropped."""
    assert parse_number(text, 0, 10).value == value


@pytest.mark.parametrize("text", ["half", "7 and a half hours, pain 6"])
def test_half_without_a_clear_number_is_reasked(text):
    assert not parse_number(text, 0, 10).ok


@pytest.mark.parametrize("text", ["not bad", "Not too bad", "why not", "not a problem", "not ok"])
def test_not_before_other_words_is_not_a_no(text):
    """"not bad" used to read as no: "not" counted as a no-word wherever it stood."""
    assert not parse_yesno(text).ok


@pytest.mark.parametrize("text", ["not", "Not.", "not really", "not today", "not yet",
                                  "not at all", "of course not", "not this week", "not for me"])
def test_not_alone_or_as_a_refusal_is_no(text):
    parsed = parse_yesno(text)
    assert parsed.ok and parsed.value is False


def test_a_clear_yes_with_not_bad_is_yes():
    assert parse_yesno("yes, not bad").value is True


@pytest.mark.parametrize("text", ["4/5", "3 out of 5", "about 2 of 4", "7/100"])
def test_a_score_on_another_scale_is_reasked(text):
    """On a 0-10 step "4/5" used to save 4, though it means 8 out of 10: it is asked again."""
    assert not parse_number(text, 0, 10).ok


def test_a_fraction_is_read_when_the_step_has_no_maximum():
    assert parse_number("3 of 4").value == 3
    assert parse_number("5/5", 1, 5).value == 5


@pytest.mark.parametrize("text", ["no problem", "No worries", "no doubt"])
def test_no_in_a_saying_is_not_a_no(text):
    """"no problem" (to "Want to make it smaller?") means yes, yet it was read as no."""
    assert not parse_yesno(text).ok


@pytest.mark.parametrize(("text", "value"), [(".5", 0.5), ("about .5", 0.5), ("-.5", -0.5)])
def test_a_leading_decimal_point_is_kept(text, value):
    """".5" used to read as 5: the point was dropped."""
    assert parse_number(text).value == value

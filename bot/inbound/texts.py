"""The program's fixed texts: consent confirmations, HELP, unknown numbers, who was told.

Kept short (one SMS segment where possible), plain and GSM-7. Automated texts
never claim what did not happen: the crisis reply's "who was told" sentence is
built from the alerts actually queued.
"""

from __future__ import annotations

from typing import Any

from bot.core.config import Config

CRISIS_LINE = ("Veterans Crisis Line: dial 988 then press 1, text 838255, "
               "or chat at VeteransCrisisLine.net")
TOLD_COACH = "I've let your coach know."
TOLD_STAFF = "I've let the program staff know."


def _contact(config: Config) -> str:
    return f" {config.program.contact}." if config.program.contact else ""


def opted_out(config: Config) -> str:
    """Confirm an opt-out (the last text the number gets)."""
    return (f"{config.program.name}: you're unsubscribed and will get no more texts. "
            "Reply START to rejoin.")


def opted_in(config: Config, participant: Any) -> str:
    """Confirm an opt-in."""
    return (f"Welcome back, {participant.first_name}. {config.program.name} texts are on again. "
            "Reply STOP to stop, HELP for help.")


def help_text(config: Config, participant: Any | None = None) -> str:
    """Say what the program is, how to reach people, and how to stop."""
    coach = ""
    if participant is not None and getattr(participant, "coach", None) is not None:
        coach = (f" Your coach is {participant.coach.first_name}; "
                 "reply COACH to ask them to reach out.")
    return (f"{config.program.name}: peer coaching texts for Veterans with pain.{coach}"
            f"{_contact(config)} Not monitored 24/7. In crisis: {CRISIS_LINE}. "
            "Reply STOP to stop. Msg & data rates may apply.")


def unknown_number(config: Config) -> str:
    """Answer a number that is not enrolled."""
    return (f"This is the {config.program.name} program line for enrolled Veterans."
            f"{_contact(config)}"
            f" In crisis: {CRISIS_LINE}.")


def who_was_told(coach_texted: bool, staff_texted: bool) -> str:
    """Return the sentence saying who was alerted, or "" if nobody was."""
    if coach_texted:
        return TOLD_COACH
    return TOLD_STAFF if staff_texted else ""


def with_who_was_told(reply: str, coach_texted: bool, staff_texted: bool) -> str:
    """Return `reply` followed by the sentence saying who was alerted (if anyone)."""
    told = who_was_told(coach_texted, staff_texted)
    return f"{reply.rstrip()} {told}" if told else reply

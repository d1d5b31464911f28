"""`peerline coach add`, `staff add`, `participant add`, `demo seed`."""

from __future__ import annotations

import sys
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import click

from bot.cli.common import fail, with_services
from bot.cli.demo import demo_group
from bot.domain.people import (
    EnrolmentError,
    add_coach,
    add_participant,
    check_timezone,
    find_coach_by_phone,
    find_participant_by_phone,
)
from bot.domain.program_arc import program_length
from bot.inbound.consent import WithdrawalError, withdraw
from bot.runtime.apply import on_enrolled
from bot.services import Services


def _read_password(password_stdin: bool) -> str | None:
    if not password_stdin:
        return None
    return sys.stdin.readline().rstrip("\r\n")


@click.group("coach")
def coach_group() -> None:
    """Manage peer coaches."""


@coach_group.command("add")
@click.option("--name", required=True)
@click.option("--phone", required=True, help="The coach's own mobile number.")
@click.option("--username", default=None, help="Dashboard login name.")
@click.option("--password-stdin", is_flag=True, help="Read the dashboard password from stdin.")
@click.option("--timezone", default=None, help="IANA zone (default: program.timezone).")
@with_services
def coach_add(services: Services, name: str, phone: str, username: str | None,
              password_stdin: bool, timezone: str | None) -> None:
    """Add a peer coach."""
    password = _read_password(password_stdin)
    try:
        with services.db.session() as session:
            coach = add_coach(session, name=name, phone=phone, username=username,
                              password=password, now=services.clock.now(),
                              timezone=timezone or services.config.program.timezone)
    except EnrolmentError as exc:
        fail(str(exc))
    click.echo(f"added coach #{coach.id} {coach.name}")


@click.group("staff")
def staff_group() -> None:
    """Manage program staff accounts."""


@staff_group.command("add")
@click.option("--name", required=True)
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--phone", default=None, help="Optional mobile number.")
@with_services
def staff_add(services: Services, name: str, username: str, password_stdin: bool,
              phone: str | None) -> None:
    """Add a staff member who sees every coach and veteran."""
    password = _read_password(password_stdin)
    try:
        with services.db.session() as session:
            staff = add_coach(session, name=name, phone=phone, username=username,
                              password=password, role="staff", now=services.clock.now(),
                              timezone=services.config.program.timezone)
    except EnrolmentError as exc:
        fail(str(exc))
    click.echo(f"added staff #{staff.id} {staff.name}")


@click.group("participant")
def participant_group() -> None:
    """Manage enrolled veterans."""


@participant_group.command("add")
@click.option("--phone", required=True)
@click.option("--name", required=True)
@click.option("--coach", "coach_phone", required=True, help="The coach's phone number.")
@click.option("--timezone", default=None, help="IANA zone (default: program.timezone).")
@click.option("--enrolled", "enrolled", default=None, metavar="YYYY-MM-DD",
              help="When the program started for them, if earlier than today (default: now).")
@click.option("--consent-version", default=None,
              help="Version of the consent form they agreed to (default: program.consent_version).")
@with_services
def participant_add(services: Services, phone: str, name: str, coach_phone: str,
                    timezone: str | None, enrolled: str | None,
                    consent_version: str | None) -> None:
    """Enrol a veteran with their peer coach (their consent is recorded with its version)."""
    now = services.clock.now()
    zone = timezone or services.config.program.timezone
    try:
        with services.db.session() as session:
            coach = find_coach_by_phone(session, coach_phone)
            participant = add_participant(
                session, phone=phone, name=name, coach=coach, now=now, timezone=zone,
                length=program_length(services.config),
                enrolled_at=_enrolment_date(enrolled, zone) if enrolled else None,
                consent_version=consent_version or services.config.program.consent_version,
            )

            on_enrolled(session, services, participant, now)
    except EnrolmentError as exc:
        fail(str(exc))
    click.echo(f"added participant #{participant.id} {participant.name}")


def _enrolment_date(text: str, zone: str) -> datetime:
    """Return the start of day `text` (YYYY-MM-DD) in `zone`, or stop with the fix."""
    try:
        day = date.fromisoformat(text.strip())
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(check_timezone(zone)))
    except ValueError:
        fail(f"--enrolled {text!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-30")
    except EnrolmentError as exc:
        fail(str(exc))


@participant_group.command("withdraw")
@click.option("--phone", required=True, help="The veteran's phone number.")
@click.option("--reason", required=True, help="Why, as the veteran or staff said it.")
@with_services
def participant_withdraw(services: Services, phone: str, reason: str) -> None:
    """Record that a veteran withdrew: texts stop at once, exports flag their rows."""
    try:
        with services.db.session() as session:
            participant = find_participant_by_phone(session, phone)
            withdraw(session, participant.id, reason=reason, actor="cli",
                     now=services.clock.now())
            pid = participant.id
    except (EnrolmentError, WithdrawalError) as exc:
        fail(str(exc))
    click.echo(f"P{pid} withdrew; no more texts will be sent to them")


def register(main: click.Group) -> None:
    """Add the people commands to `main`."""

    for group in (coach_group, staff_group, participant_group, demo_group):
        main.add_command(group)

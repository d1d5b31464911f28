"""`peerline flows check|test` and `peerline chat`."""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path
from xml.etree import ElementTree

import click
from sqlalchemy import func, select

from bot.cli.common import config_option, fail, open_services
from bot.cli.scenarios import advance_clock, run_path
from bot.core.clock import FrozenClock, SystemClock
from bot.core.config import ConfigError, load_config
from bot.core.durations import parse_duration
from bot.core.phones import try_e164
from bot.flows.folder import check_path
from bot.inbound.pipeline import InboundSms, handle_inbound
from bot.models import Coach, Message, Nudge, Participant
from bot.runtime.apply import start_flow
from bot.services import Services


def _default_dir(config_path: str | None) -> Path:
    """Return [flows] dir; a config that is there but wrong is refused, not skipped."""
    try:
        return Path(load_config(config_path).flows.dir)
    except ConfigError as exc:
        fail(str(exc))
        raise


@click.group("flows")
def flows_group() -> None:
    """Check and test the program's flow files."""


@flows_group.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@config_option
def flows_check(path: Path | None, config_path: str | None) -> None:
    """Validate flow files; print one FILE:LINE: message per problem."""

    target = path or _default_dir(config_path)
    problems = check_path(target)
    for line in problems:
        click.echo(line)
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        raise SystemExit(1)
    click.echo(f"{target}: all flow files are valid.")


@flows_group.command("test")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@config_option
def flows_test(path: Path | None, config_path: str | None) -> None:
    """Run the scenario files (flows/tests/*.yaml); exit 1 with a diff on failure."""

    target = path or _default_dir(config_path)
    results = run_path(target)
    failed = [r for r in results if not r.ok]
    for result in failed:
        click.echo(f"FAIL {result.file}: {result.name}\n{result.failure}\n")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed.")
    if failed or not results:
        if not results:
            click.echo(f"no scenario files found under {target}", err=True)
        raise SystemExit(1)


class _Chat:
    """A terminal conversation through the real webhook logic, on a virtual clock."""

    def __init__(self, services: Services, clock: FrozenClock, phone: str):
        self.services, self.clock = services, clock
        self.phone = phone
        self.seen = self._last_id()
        self.seen_nudge = 0
        self.started = services.clock.now()

    def _last_id(self) -> int:
        with self.services.db.session() as session:
            return int(session.scalar(select(func.max(Message.id))) or 0)

    def send(self, body: str) -> None:
        twiml = handle_inbound(self.services, InboundSms(f"CHAT{uuid.uuid4().hex}", self.phone,
                                                         body, 0))
        for element in ElementTree.fromstring(twiml).iter("Message"):
            click.echo(f"bot> {element.text or ''}")
        self.show_new(skip_twiml=True)

    def wait(self, text: str) -> None:
        advance_clock(self.services, self.clock, parse_duration(text))
        click.echo(f"(the time is now {self.services.clock.now():%Y-%m-%d %H:%M} UTC)")
        self.show_new()

    def start(self, flow_id: str) -> None:
        with self.services.db.session() as session:
            participant = session.scalar(select(Participant).where(Participant.phone == self.phone))
            if participant is None or start_flow(session, self.services, participant, flow_id,
                                                 self.services.clock.now()) is None:
                click.echo(f"(flow {flow_id!r} did not start)")
        self.show_new()

    def show_new(self, skip_twiml: bool = False) -> None:
        with self.services.db.session() as session:
            rows = session.scalars(select(Message).where(Message.id > self.seen,
                                                         Message.direction == "out")
                                   .order_by(Message.id)).all()
            for m in rows:
                self.seen = max(self.seen, m.id)
                if m.status == "twiml" and skip_twiml:
                    continue
                if m.phone == self.phone:
                    click.echo(f"bot (queued)> {m.body}")
                else:
                    coach = session.scalar(select(Coach).where(Coach.phone == m.phone))
                    who = f"coach {coach.first_name}" if coach else f"staff {m.phone}"
                    click.echo(f"  [to {who}] {m.body}")
            for nudge in session.scalars(select(Nudge).where(
                    Nudge.id > self.seen_nudge, Nudge.created_at >= self.started)):
                self.seen_nudge = nudge.id
                click.echo(f"  [draft #{nudge.id} for coach approval, due "
                           f"{nudge.due_at:%Y-%m-%d %H:%M} UTC] {nudge.body}")


HELP = ("Type a text to send it. Commands: /wait 25h (advance the clock and fire due "
        "timeouts), /start FLOW (start a flow as the scheduler would), /quit.")


@click.command("chat")
@click.option("--phone", required=True, help="The enrolled participant's phone number.")
@config_option
def chat(phone: str, config_path: str | None) -> None:
    """Talk to the bot in the terminal as a participant (console transport, virtual clock)."""

    e164 = try_e164(phone)
    if e164 is None:
        fail(f"not a phone number: {phone}")
    clock = FrozenClock(SystemClock().now())
    services = open_services(config_path, clock=clock)
    logging.getLogger().setLevel(logging.ERROR)  # keep the conversation readable
    try:
        session_chat = _Chat(services, clock, str(e164))
        click.echo(f"Chatting as {e164}. {HELP}")
        stream = sys.stdin
        while True:
            click.echo("you> ", nl=False)
            line = stream.readline()
            if not line:
                click.echo("")
                break
            text = line.rstrip("\n")
            if text.strip() in {"/quit", "/exit"}:
                break
            if text.startswith("/wait"):
                try:
                    session_chat.wait(text[5:].strip())
                except ValueError as exc:
                    click.echo(f"({exc})")
            elif text.startswith("/start"):
                session_chat.start(text[6:].strip())
            elif text.startswith("/"):
                click.echo(HELP)
            else:
                session_chat.send(text)
    finally:
        services.db.dispose()


def register(main: click.Group) -> None:
    """Add the flow commands to `main`."""
    main.add_command(flows_group)
    main.add_command(chat)

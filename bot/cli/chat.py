"""`peerline chat`: be a veteran in the terminal, through the real webhook logic.

Rules: a chat never corrupts a real database. By default it runs on a
throwaway copy of the (SQLite) database, where `/wait` may move a virtual
clock; the copy is deleted when the chat ends. With `--live` it writes to
the configured database, which the dashboard shows, on the real clock only:
`/wait` is refused there, because a moved clock writes future dates. The
chat shows only the chatting veteran's own thread, each line labelled.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.cli.common import config_option, fail, load, require_schema
from bot.cli.scenarios import advance_clock
from bot.core.clock import FrozenClock, SystemClock
from bot.core.config import Config, ConfigError
from bot.core.durations import parse_duration
from bot.core.phones import try_e164
from bot.inbound.pipeline import handle_inbound
from bot.inbound.store import InboundSms
from bot.models import Message, Nudge, Participant
from bot.outbox.delivery import MessageStatus
from bot.runtime.apply import start_flow
from bot.services import Services, build_services

HELP = ("Type a text to send it. Commands: /wait 25h (move the clock on and fire due "
        "timeouts; only on a copy), /start FLOW (start a flow as the scheduler would), /quit.")

LEGEND = ("  bot>         PeerLine's immediate answer to your text\n"
          "  bot, later>  a text PeerLine sends on its own (a question after a wait, a "
          "reminder);\n"
          "               the server's outbox sends it, so it may arrive a moment after "
          "the answer\n"
          "  note:        something about you that was not texted to you (e.g. a draft your "
          "coach must approve)")


class Chat:
    """One veteran's conversation with the bot, on a copy (virtual clock) or live."""

    def __init__(self, services: Services, phone: str, *, virtual: bool):
        self.services = services
        self.phone = phone
        self.virtual = virtual
        with services.db.session() as session:
            self.seen = int(session.scalar(select(func.max(Message.id))) or 0)
            self.seen_nudge = int(session.scalar(select(func.max(Nudge.id))) or 0)
            participant = session.scalar(select(Participant).where(Participant.phone == phone))
            self.participant_id = participant.id if participant else None
            self.name = participant.name if participant else None

    def send(self, body: str) -> None:
        """Send `body` as the veteran; print the answer, then anything else for them."""
        twiml = handle_inbound(self.services, InboundSms(f"CHAT{uuid.uuid4().hex}", self.phone,
                                                         body, 0))
        for element in ElementTree.fromstring(twiml or "<Response/>").iter("Message"):
            click.echo(f"bot> {element.text or ''}")
        self.show_new(skip_twiml=True)

    def wait(self, text: str) -> None:
        """Move the virtual clock on by `text` (e.g. 25h), firing due timeouts."""

        if not self.virtual or not isinstance(self.services.clock, FrozenClock):
            click.echo("(/wait is off on the live database: a moved clock would write future "
                       "dates. Chat without --live to try timeouts on a copy.)")
            return
        advance_clock(self.services, self.services.clock, parse_duration(text))
        click.echo(f"(on this copy the time is now {self.services.clock.now():%Y-%m-%d %H:%M}"
                   f" UTC)")
        self.show_new()

    def start(self, flow_id: str) -> None:
        """Start `flow_id` for the veteran as the scheduler would."""

        with self.services.db.session() as session:
            participant = session.scalar(select(Participant).where(Participant.phone == self.phone))
            if participant is None or start_flow(session, self.services, participant, flow_id,
                                                 self.services.clock.now()) is None:
                click.echo(f"(flow {flow_id!r} did not start)")
        self.show_new()

    def show_new(self, skip_twiml: bool = False) -> None:
        """Print the veteran's new outgoing texts and drafts about them, nobody else's."""
        with self.services.db.session() as session:
            rows = session.scalars(select(Message).where(
                Message.id > self.seen, Message.direction == "out",
                Message.phone == self.phone).order_by(Message.id)).all()
            self.seen = int(session.scalar(select(func.max(Message.id))) or self.seen)
            for m in rows:
                if m.status == MessageStatus.TWIML and skip_twiml:
                    continue
                click.echo(f"bot, later> {m.body}")
            if self.participant_id is None:
                return
            for nudge in session.scalars(select(Nudge).where(
                    Nudge.id > self.seen_nudge, Nudge.participant_id == self.participant_id)
                    .order_by(Nudge.id)):
                self.seen_nudge = nudge.id
                click.echo(f"note: your coach has a draft to approve before it is sent: "
                           f"{nudge.body}")


def throwaway_copy(config: Config, folder: Path) -> Config:
    """Copy the configured SQLite database into `folder`; return a config that uses the copy."""
    url = make_url(config.database.url)
    source = url.database
    if url.get_backend_name() != "sqlite" or not source or source == ":memory:":
        fail("a throwaway copy works only with an SQLite database; on this database chat "
             "with --live (real clock, no /wait)")
    source = str(source)
    if not Path(source).exists():
        fail(f"no database at {source}; run: peerline db upgrade")
    copy = folder / "chat-copy.db"
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as live, \
            sqlite3.connect(copy) as target:
        live.backup(target)  # a consistent copy even while the server writes
    try:
        return config.replace(database__url=f"sqlite:///{copy}",
                              database__spool_dir=str(folder / "spool"))
    except ConfigError as exc:
        fail(str(exc))
        raise


@click.command("chat")
@click.option("--phone", required=True, help="The enrolled participant's phone number.")
@click.option("--live", is_flag=True,
              help="Use the configured database (what the dashboard shows), on the real "
                   "clock; /wait is off. Default: a throwaway copy with a virtual clock.")
@config_option
def chat(phone: str, live: bool, config_path: str | None) -> None:
    """Talk to the bot in the terminal as a participant (a copy of the database by default)."""

    e164 = try_e164(phone)
    if e164 is None:
        fail(f"not a phone number: {phone}")
    config = load(config_path)
    logging.getLogger().setLevel(logging.ERROR)  # keep the conversation readable
    folder = Path(tempfile.mkdtemp(prefix="peerline-chat-"))
    try:
        if not live:
            config = throwaway_copy(config, folder)
        clock: Any = SystemClock() if live else FrozenClock(SystemClock().now())
        try:
            services = build_services(config, clock=clock)
        except (ConfigError, OSError) as exc:
            fail(str(exc))
            raise
        try:
            require_schema(services.db, config)
            converse(Chat(services, str(e164), virtual=not live), live)
        finally:
            services.db.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def converse(session_chat: Chat, live: bool) -> None:
    """Read lines from stdin until /quit or end of input."""
    who = f"{session_chat.name} ({session_chat.phone})" if session_chat.name else \
        f"{session_chat.phone} (not enrolled)"
    if live:
        click.echo(f"Chatting as {who} on the LIVE database: the dashboard shows what you do. "
                   f"Real clock; /wait is off.")
    else:
        click.echo(f"Chatting as {who} on a throwaway copy of the database: nothing here "
                   f"reaches the dashboard, and /wait moves only this copy's clock. "
                   f"(--live uses the real database.)")
    click.echo(HELP)
    click.echo(LEGEND)
    while True:
        click.echo("you> ", nl=False)
        line = sys.stdin.readline()
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


def register(main: click.Group) -> None:
    """Add `chat` to `main`."""
    main.add_command(chat)

"""Build the objects every part of PeerLine shares: config, database, clock, sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.clock import Clock, SystemClock
from bot.core.config import Config
from bot.core.db import Database
from bot.core.recent_texts import RecentTexts
from bot.flows.program_files import ProgramCache
from bot.flows.store import FlowStore
from bot.sms import SmsSender
from bot.sms.console import ConsoleSender
from bot.sms.twilio import TwilioSender

if TYPE_CHECKING:  # the sender imports the inbound and runtime modules, which take Services
    from bot.sending.sender import OutboxSender


@dataclass
class Services:
    """The injected dependencies; built once by create_app() or a CLI command."""

    config: Config
    db: Database
    clock: Clock
    sender: SmsSender
    flows: FlowStore | None = None  # built by build_services unless load_flows=False
    # Set while this process runs an outbox sender (scheduler lock holder, `peerline tick`):
    # the `outbox` job then wakes it instead of sending itself.
    outbox_sender: OutboxSender | None = None
    program_cache: ProgramCache | None = None  # strategy library + nudge schedules, loaded once
    spool_looked_at: float = field(default=float("-inf"))  # monotonic time of the last replay look
    # This process's last text per number (the crisis screen's previous-text join, from memory)
    recent_texts: RecentTexts = field(default_factory=RecentTexts)
    counters: dict[str, int] = field(default_factory=dict)  # per-process failure counts (spool)

    def wake_sender(self) -> None:
        """Ask the outbox sender to run now (crisis alerts must not wait a pass)."""
        for wake in self.db.wakers:
            wake()


def build_sender(config: Config) -> SmsSender:
    """Return the transport the config names; a Twilio client is created here, not at import."""
    if config.sms.transport == "twilio":
        return TwilioSender.from_config(config)

    return ConsoleSender()


def build_services(
    config: Config,
    *,
    clock: Clock | None = None,
    sender: SmsSender | None = None,
    db: Database | None = None,
    load_flows: bool = True,
) -> Services:
    """Assemble Services from config, with any part replaceable (tests inject clocks, senders)."""
    services = Services(
        config=config,
        db=db or Database(config.database.url),
        clock=clock or SystemClock(),
        sender=sender or build_sender(config),
    )
    if load_flows:
        services.flows = FlowStore(config.flows.dir, archive=config.flows.versions_dir,
                                   background=True)  # a request never waits on a reload
    return services

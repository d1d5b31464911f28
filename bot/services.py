"""Build the objects every part of PeerLine shares: config, database, clock, sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.core.clock import Clock, SystemClock
from bot.core.config import Config
from bot.core.db import Database
from bot.flows.store import FlowStore
from bot.sms import SmsSender
from bot.sms.console import ConsoleSender
from bot.sms.twilio import TwilioSender


@dataclass
class Services:
    """The injected dependencies; built once by create_app() or a CLI command."""

    config: Config
    db: Database
    clock: Clock
    sender: SmsSender
    flows: FlowStore | None = None  # built by build_services unless load_flows=False
    extras: dict[str, Any] = field(default_factory=dict)

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

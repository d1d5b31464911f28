"""Build the objects every part of PeerLine shares: config, database, clock, sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.db import Database
from bot.sms import SmsSender

if TYPE_CHECKING:
    from bot.flows.store import FlowStore


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
        from bot.sms.twilio import TwilioSender

        return TwilioSender.from_config(config)
    from bot.sms.console import ConsoleSender

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
        from bot.flows.store import FlowStore

        services.flows = FlowStore(config.flows.dir, archive=config.flows.versions_dir,
                                   background=True)  # a request never waits on a reload
    return services

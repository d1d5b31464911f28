"""A veteran's page: what a coach needs before a call first, then the conversation (paged).

Order: alerts, contact due and the tap-to-call number (own coach only, never
by SMS), the latest PEG and chart, the current goal; then the conversation,
the compose box (relayed, signed: bot/relay.py), the contact log and its form.
Opening the page marks the veteran's inbox items read for their coach.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from flask import Flask, Response, flash, g, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from bot.core.durations import in_quiet_hours, quiet_hours_end
from bot.dashboard import connection
from bot.dashboard.charts import (
    ITEMS,
    LABELS,
    STYLE,
    fmt,
    legend_svg,
    peg_chart_svg,
    peg_checkins,
    weekly_peg,
)
from bot.dashboard.coach import send_time
from bot.dashboard.common import audit, back, blueprint, login_required, now, services, user, when
from bot.dashboard.paging import PAGE_SIZE, page_arg
from bot.dashboard.program import program_summary
from bot.dashboard.queries import names, open_escalations, participant_or_404, thread
from bot.domain import inbox, peg
from bot.domain import nudges as nudge_rules
from bot.domain.contacts import KINDS, contact_every, due_state, history, last_contacts
from bot.domain.goals import current_goal
from bot.domain.relay import RelayError, relay
from bot.models import Nudge

log = logging.getLogger(__name__)
bp = blueprint("veterans", __name__, url_prefix="/veterans")
MAX_COMPOSE = 1000
THREAD_PAGE = 30  # messages per page of the conversation


@bp.get("/<int:participant_id>")
@login_required
def show(participant_id: int) -> str:
    """Show one veteran: chat thread, PEG answers, strategies, drafts, compose box.

    Two transactions, then the template: a short write (the audit row, inbox items
    marked read), then a read that never holds the write lock.
    """
    coach = user()
    moment = now()
    page = page_arg()
    with services().db.session() as db:
        participant = participant_or_404(db, participant_id, coach)
        audit(db, "participant.view", "participant", participant.id)  # every read (SPEC §13)
        unread = inbox.unread_ids(db, participant.id)
        if unread and inbox.mark_read(db, coach, participant.id, moment):
            g.inbox_unread = inbox.unread_count(db, coach)  # the nav's count, now lower
    with services().db.reading() as db:
        messages = thread(db, participant.id, limit=THREAD_PAGE + 1,
                          offset=(page - 1) * THREAD_PAGE)
        last = last_contacts(db, [participant.id]).get(participant.id)
        answers = peg.answers(db, [participant.id])[participant.id]
        program = program_summary(db, participant, services().config, moment, peg.scores(
            participant, peg.checkins(answers, participant.timezone)))
        escalations = open_escalations(db, coach, participant.id)
        drafts = list(db.scalars(
            select(Nudge).options(joinedload(Nudge.participant))
            .where(Nudge.participant_id == participant.id, Nudge.status == "pending")
            .order_by(Nudge.due_at, Nudge.id).limit(PAGE_SIZE)))
        people = names(db, {participant.coach_id} | {m.coach_id for m, _ in messages}
                       | {e.acknowledged_by_id for e in escalations})
        contacts, goal = history(db, participant.id), current_goal(db, participant.id)
    older = len(messages) > THREAD_PAGE
    messages = messages[-THREAD_PAGE:]
    weeks = weekly_peg(answers, participant.timezone)
    library = connection.library()
    quiet = services().config.program.quiet_hours
    return render_template(
        "veteran.html", p=participant, messages=messages, weeks=weeks,
        checkins=peg_checkins(answers, participant.timezone), program=program,
        chart=peg_chart_svg(weeks, participant.first_name, program.baseline_score),
        items=ITEMS, labels=LABELS, styles=STYLE, legend=legend_svg, fmt=fmt,
        escalations=escalations, drafts=[(n, send_time(n, moment)) for n in drafts],
        people=people, strategies=[(s, library.get(str(s), str(s)))
                                   for s in participant.strategies or []],
        quiet_now=in_quiet_hours(quiet, moment, participant.timezone),
        quiet_end=quiet_hours_end(quiet, moment, participant.timezone),
        max_compose=MAX_COMPOSE, now_time=moment, page=page, older=older, unread=unread,
        due=due_state(participant, last, contact_every(services().config), moment),
        last_contact=last, contacts=contacts, goal=goal, topics=library,
        kinds=KINDS, own=participant.coach_id == coach.id,
        latest=weeks[-1] if weeks else None,
        today=moment.astimezone(ZoneInfo(coach.timezone)).date().isoformat(),
    )


@bp.post("/<int:participant_id>/compose")
@login_required
def compose(participant_id: int) -> Response:
    """Queue the coach's own message through the outbox (quiet hours and opt-out apply)."""
    coach = user()
    moment = now()
    body = request.form.get("body", "").strip()
    with services().db.session() as db:
        participant = participant_or_404(db, participant_id, coach)
        first = participant.first_name
        if participant.opted_out:
            flash(f"{first} has opted out of texts, so PeerLine can't send this. "
                  f"If {first} texts START, you can write again.", "error")
            return back("veterans.show", participant_id=participant_id)
        if not body:
            flash("Write a message first.", "error")
            return back("veterans.show", participant_id=participant_id)
        if len(body) > MAX_COMPOSE:
            flash(f"That message is too long; keep it under {MAX_COMPOSE} characters.", "error")
            return back("veterans.show", participant_id=participant_id)
        try:  # through the program number, signed with the coach's first name
            with db.begin_nested():
                leaves = relay(db, services(), coach, participant.id, body, moment,
                               via="web").leaves
        except RelayError as exc:
            flash(str(exc).replace(" Reply TEXT", " Text TEXT"), "error")
            return back("veterans.show", participant_id=participant_id)
    if leaves > moment:
        flash(f"Queued. It's quiet hours for {first}, so it goes out "
              f"{when(leaves, participant.timezone)} ({first}'s time).", "ok")
    else:
        flash(f"Queued: your message to {first} goes out in a moment.", "ok")
    return back("veterans.show", participant_id=participant_id)


@bp.post("/<int:participant_id>/resume-nudges")
@login_required
def resume(participant_id: int) -> Response:
    """Lift the crisis pause on a veteran's drafts and held nudges."""
    coach = user()
    with services().db.session() as db:
        participant = participant_or_404(db, participant_id, coach)
        nudge_rules.resume_for_participant(db, participant.id, coach, now())
        first = participant.first_name
    flash(f"Nudges for {first} are back on. Held messages will go out as planned.", "ok")
    return back("veterans.show", participant_id=participant_id)


def init_app(app: Flask) -> None:
    """Register the veteran pages."""
    app.register_blueprint(bp)

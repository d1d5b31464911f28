"""A lifelike small program for screenshots: one coach, five veterans, drafts, alerts, history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.domain.people import add_coach, add_participant
from bot.models import CheckinAnswer, Contact, InboxItem, Message, Participant
from bot.services import Services
from tests.dashboard_support import add_answers, add_escalation, add_nudge

DAY = timedelta(days=1)
PEG = {
    "sam": [(8, 7, 8), (7, 7, 7), (7, 6, 6), (6, 6, 6), (6, 5, 5), (5, 5, 4), (5, 4, 4),
            (4, 4, 3)],
    "marcus": [(6, 6, 7), (7, 6, 7), (7, 7, 7), (6, 6, 6), (7, 7, 6)],
    "dana": [(5, 5, 6), (6, 6, 6), (8, 8, 7)],
    "lee": [(4, 3, 3), (4, 4, 3)],
}


def _msg(session: Any, p: Participant, now: Any, minutes_ago: int, direction: str, body: str,
         **extra: Any) -> None:
    status = "received" if direction == "in" else extra.pop("status", "delivered")
    kind = extra.pop("kind", "participant" if direction == "in" else "flow")
    session.add(Message(direction=direction, participant_id=p.id, phone=p.phone, body=body,
                        kind=kind, status=status, created_at=now - timedelta(minutes=minutes_ago),
                        **extra))


def seed_showcase(services: Services) -> dict[str, int]:
    """Fill an empty database with the showcase; return the interesting ids."""
    now = services.clock.now()
    with services.db.session() as s:
        alex = add_coach(s, name="Alex Rivera", phone="+12025550101", now=now, username="coach",
                         password="peerline-demo", timezone="America/New_York")
        add_coach(s, name="Pat Staff", phone=None, now=now, role="staff", username="staff",
                  password="peerline-demo", timezone="America/New_York")
        enrol = now - timedelta(days=60)
        sam = add_participant(s, phone="+12025550123", name="Sam Carter", coach=alex,
                              timezone="America/Chicago", now=enrol)
        marcus = add_participant(s, phone="+12025550124", name="Marcus Hill", coach=alex,
                                 timezone="America/New_York", now=enrol)
        dana = add_participant(s, phone="+12025550125", name="Dana Brooks", coach=alex,
                               timezone="America/Denver", now=enrol)
        lee = add_participant(s, phone="+12025550126", name="Lee Nguyen", coach=alex,
                              timezone="America/Los_Angeles", now=enrol)
        jo = add_participant(s, phone="+12025550127", name="Jo Alvarez", coach=alex,
                             timezone="America/New_York", now=enrol)
        lee.status = "paused"
        jo.status, jo.status_before_opt_out = "opted_out", "active"
        sam.strategies = ["pacing", "relaxation", "activity"]
        for person, key in ((sam, "sam"), (marcus, "marcus"), (dana, "dana"), (lee, "lee")):
            add_answers(s, person, now - timedelta(days=1), PEG[key])
        crisis = add_escalation(s, dana, "show:dana", now, urgent=True, minutes_ago=12,
                                reason="Crisis words in a text; the Veterans Crisis Line was "
                                       "sent at once")
        dana.nudges_paused = True
        silence = add_escalation(s, marcus, "show:marcus", now, minutes_ago=180,
                                 reason="No answer to the weekly check-in")
        sam_draft = add_nudge(s, sam, "show:sam", "Hi Sam, it's Alex. You rated your pain 4 "
                              "this week, the lowest yet. What helped most? Keep pacing!", now,
                              reason="Pain went down 2 weeks in a row", hours=2)
        add_nudge(s, marcus, "show:marcus", "Hi Marcus, Alex here. Thinking of you this week. "
                  "Want to try 10 minutes of relaxation breathing tonight?", now,
                  reason="Twice-weekly encouragement", hours=26)
        paused = add_nudge(s, dana, "show:dana", "Hi Dana, how did the short walks go?", now,
                           reason="Reminder for a chosen strategy (activity)", hours=3)
        paused.paused = True
        day = 60 * 24
        _msg(s, sam, now, 7 * day + 30, "out", "Hi Sam! From 0 to 10, how bad was your pain "
             "on average this week?", flow_id="weekly_checkin", step_id="pain")
        _msg(s, sam, now, 7 * day + 10, "in", "about a 5")
        _msg(s, sam, now, 1 * day + 35, "out", "Hi Sam! From 0 to 10, how bad was your pain "
             "on average this week?", flow_id="weekly_checkin", step_id="pain")
        _msg(s, sam, now, 1 * day + 20, "in", "4 today, the walks are helping")
        _msg(s, sam, now, 1 * day + 20, "out", "And from 0 to 10, how much did pain get in "
             "the way of enjoying life?", status="twiml", flow_id="weekly_checkin",
             step_id="enjoyment")
        _msg(s, sam, now, 1 * day + 18, "in", "4")
        _msg(s, sam, now, 1 * day + 18, "out", "Thank you, Sam. Keep going. Alex will see "
             "your answers.", status="twiml", flow_id="weekly_checkin", step_id="thanks")
        _msg(s, sam, now, 40, "in", "Can I skip the stretching when it rains? <3")
        _msg(s, sam, now, 5, "out", "Of course. Try the chair stretches instead, they count "
             "too. - Alex", kind="compose", status="delivered", coach_id=alex.id)
        _msg(s, marcus, now, 3 * 60, "in", "Could you ask Alex to call me tonight? Rough week.")
        _msg(s, dana, now, 2 * day, "in", "thanks for the call yesterday")
        s.flush()
        for person in (sam, marcus, dana):
            said = s.scalars(select(Message).where(Message.participant_id == person.id,
                                                   Message.direction == "in")
                             .order_by(Message.created_at.desc()).limit(1)).one()
            s.add(InboxItem(participant_id=person.id, coach_id=alex.id, message_id=said.id,
                            created_at=said.created_at,
                            read_at=now - timedelta(days=1) if person is dana else None))
        s.add(CheckinAnswer(participant_id=sam.id, flow_id="goal", variable="goal_what",
                            value="walk to the mailbox and back", answered_at=now - 3 * DAY))
        s.add(CheckinAnswer(participant_id=sam.id, flow_id="goal", variable="goal_when",
                            value="after lunch", answered_at=now - 3 * DAY))
        for person, days, kind, minutes_long, note in (
                (sam, 4, "call", 25, "pacing, relaxation"), (sam, 19, "visit", 60, ""),
                (dana, 3, "call", 15, "after the crisis line; she is safe"),
                (lee, 9, "tried", None, "voicemail")):
            s.add(Contact(participant_id=person.id, coach_id=alex.id, kind=kind,
                          minutes=minutes_long, topics=["pacing", "relaxation"]
                          if person is sam and days == 4 else [], note=note, via="web",
                          contact_at=now - days * DAY, created_at=now - days * DAY))
        for person, minutes in ((sam, 40), (marcus, 5 * day), (dana, 15), (lee, 9 * day),
                                (jo, 20 * day)):
            person.last_inbound_at = now - timedelta(minutes=minutes)
            person.last_outbound_at = now - timedelta(minutes=max(5, minutes - 5))
        return {"sam": sam.id, "dana": dana.id, "crisis": crisis.id, "silence": silence.id,
                "sam_draft": sam_draft.id}

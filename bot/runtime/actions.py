"""Turn one engine action into rows for the runtime's writer (bot/runtime/writer.py).

Rules (SPEC §6.4-6.6):
- A Send inside a reply travels in the TwiML; outside one it is queued for the
  end of the participant's quiet hours (one quiet-hours computation per zone
  and batch).
- A coach notice leaves at once (urgent; the sender holds it for the coach's
  day); an escalation is planned by bot/domain/escalations.py with the event
  key `run:ID:KEY`; a draft is a nudges.draft_row row with the same key.
- Every saved answer becomes a CheckinAnswer; a whole first PEG becomes the
  participant's baseline; `set_status` moves the participant only along the
  arc (program_arc.may_move), with its audit row.
- Rows that need the run's id are built once the writer has inserted the run.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.domain.escalations import plan_escalation
from bot.domain.inbox import escalation_kind
from bot.domain.nudges import draft_row
from bot.domain.peg import baseline_from
from bot.domain.program_arc import may_move, moved_audit
from bot.flows import actions as act
from bot.flows.model import Flow
from bot.models import Participant
from bot.outbox.queue import PRIORITY_ALERT, QueuedText
from bot.runtime.runs import RunRow, ended_as

if TYPE_CHECKING:  # the Batch applies actions through collect(): a type, not a cycle
    from bot.runtime.apply import Batch


def _export_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def flow_text(participant: Participant, flow: Flow, run: RunRow, action: act.Send,
              now: datetime, due: datetime) -> QueuedText:
    """Return the queued flow text of `action` (sent outside a reply, due after quiet hours)."""
    return QueuedText(phone=participant.phone, body=action.text, kind="flow", now=now,
                      participant=participant, coach_id=participant.coach_id, due_at=due,
                      flow_id=flow.id, step_id=action.step, run_id=run.id)



def collect(batch: Batch, participant: Participant, flow: Flow, run: RunRow, action: act.Action,
        replies: list[str] | None) -> str | None:
    """Collect the rows of one action; return a flow id to hand over to."""
    writer, now, services = batch.writer, batch.now, batch.services
    if isinstance(action, act.Send):
        if replies is not None:
            replies.append(action.text)
        else:
            due = writer.daytime(participant.timezone)
            writer.text(lambda: flow_text(participant, flow, run, action, now, due))
    elif isinstance(action, act.NotifyCoach):
        coach = participant.coach
        if coach is not None and coach.phone and coach.active:
            writer.text(lambda: QueuedText(
                phone=str(coach.phone), body=f"PeerLine (P{participant.id}): {action.text}",
                kind="notify", now=now, coach_id=coach.id, to_participant=False,
                urgent=True,  # waits for the coach's day (coach_hours.py)
                priority=PRIORITY_ALERT, flow_id=flow.id, step_id=action.step,
                run_id=run.id))
    elif isinstance(action, act.Escalate):
        writer.escalate(lambda: plan_escalation(
            services, participant, participant.coach, kind=escalation_kind(flow.id),
            reason=action.reason, event_key=f"run:{run.id}:{action.key}", now=now,
            run_id=run.id))
    elif isinstance(action, act.DraftNudge):
        writer.draft(lambda: draft_row(
            participant, body=action.text, reason=f"{flow.name}: {action.step}",
            source=f"{flow.id}:{action.step}", event_key=f"run:{run.id}:{action.key}",
            due_at=action.due_at, now=now, max_lateness=action.max_late))
    elif isinstance(action, act.SaveAnswer):
        if not action.variable.startswith("participant."):
            run.variables = {**(run.variables or {}), action.variable: action.value}
            baseline = baseline_from(participant, run.variables, now)
            if baseline is not None:
                writer.set_participant(participant, "peg_baseline", baseline)
        writer.answer(run, participant_id=participant.id, flow_id=flow.id,
                      variable=action.variable[:80], value=_export_value(action.value),
                      asked_at=action.asked_at, answered_at=now)
    elif isinstance(action, act.SetParticipantField):
        if action.name == "strategies":
            value = action.value
            writer.set_participant(participant, "strategies",
                                   list(value) if isinstance(value, list) else [value])
        else:
            writer.set_participant(participant, "fields",
                                   {**(participant.fields or {}), action.name: action.value})
    elif isinstance(action, act.SetProgramStatus):
        old = participant.status
        if may_move(old, action.status):
            writer.set_participant(participant, "status", action.status)
            writer.audit(moved_audit(participant.id, old, action.status, now,
                                     f"flow:{flow.id}"))
    elif isinstance(action, act.StartFlow):
        return action.flow_id
    elif isinstance(action, act.EndRun):
        batch.finish(run, ended_as(action))
    return None

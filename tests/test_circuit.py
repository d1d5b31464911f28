"""The sender's circuit (bot/sending/circuit.py) alone: whose failure a refusal is, probes."""

from __future__ import annotations

import logging
import math
import random

import pytest

from bot.sending.circuit import Circuit


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def circuit(clock):
    return Circuit(monotonic=clock, rng=random.Random(5))


def test_a_rows_first_refusal_is_the_providers_and_opens_for_about_a_second(circuit, clock):
    assert circuit.closed and circuit.pause_left() == 0 and circuit.allows(1)
    assert circuit.refused(1, "500/20500") is False
    assert circuit.state == "open" and circuit.opener == 1
    assert 0.9 <= circuit.pause_left() <= 1.1
    assert not circuit.allows(1) and not circuit.allows(2)
    clock.now += 1.1
    assert circuit.pause_left() == 0


def test_refused_again_with_nothing_accepted_between_is_still_the_providers(circuit):
    assert circuit.refused(1, "500") is False
    assert circuit.refused(1, "429") is False  # e.g. a send that was in flight
    assert circuit.refused(2, "network") is False
    assert circuit.opener == 1  # sends in flight do not move the opener or the pause


def test_refused_again_after_another_was_accepted_is_the_rows_own(circuit):
    assert circuit.refused(1, "500") is False
    assert circuit.accepted(2) is True  # an acceptance closes the circuit
    assert circuit.closed
    assert circuit.refused(1, "500") is True
    assert circuit.closed  # a row's own failure does not open it
    assert circuit.refused(1, "500") is False  # nothing accepted since its last refusal
    assert circuit.state == "open"
    circuit.accepted(3)
    assert circuit.refused(1, "500") is True


def test_order_comes_from_the_answers_not_the_clock(circuit, clock):
    # All three answers share one clock reading (virtual time): the order still decides.
    circuit.accepted(2)
    assert circuit.refused(1, "500") is False  # accepted before, not since
    circuit.accepted(3)
    assert circuit.refused(1, "500") is True


def test_failed_probes_double_the_pause_up_to_the_cap(clock):
    circuit = Circuit(monotonic=clock, rng=random.Random(1), jitter=0.0)
    circuit.refused(1, "500")
    pauses = [circuit.pause_left()]
    for probe in range(2, 9):
        clock.now = circuit.until
        circuit.begin_probe(probe)
        assert circuit.pause_left() == math.inf and circuit.allows(probe)
        assert not circuit.allows(probe + 100)
        assert circuit.refused(probe, "429") is False
        assert circuit.opener == probe
        pauses.append(circuit.pause_left())
    assert pauses == [1, 2, 4, 8, 16, 16, 16, 16]
    assert circuit.failed_probes == 7


def test_jitter_stays_within_ten_percent(clock):
    circuit = Circuit(monotonic=clock, rng=random.Random(9))
    seen = []
    for row in range(1, 200):
        circuit.refused(row, "500")
        seen.append(circuit.pause_left())
        circuit.accepted(10_000 + row)
    assert all(0.9 <= pause <= 1.1 for pause in seen)
    assert max(seen) - min(seen) > 0.1  # it does vary


def test_an_accepted_probe_closes_and_resets(circuit, clock):
    circuit.refused(1, "500")
    clock.now = circuit.until
    circuit.begin_probe(2)
    circuit.refused(2, "500")
    clock.now = circuit.until
    circuit.begin_probe(1)
    assert circuit.accepted(1) is True
    assert circuit.closed and circuit.failed_probes == 0 and circuit.opener is None
    circuit.refused(3, "500")
    assert 0.9 <= circuit.pause_left() <= 1.1  # a new outage starts from the first pause


def test_a_probe_without_a_verdict_lets_the_next_probe_go_at_once(circuit, clock):
    circuit.refused(1, "500")
    clock.now = circuit.until + 5
    circuit.begin_probe(2)
    circuit.forget(2)  # e.g. a final 4xx error, or the row was cancelled at send time
    circuit.end_probe()
    assert circuit.state == "open" and circuit.pause_left() == 0
    assert circuit.failed_probes == 0 and circuit.opener == 1


def test_a_probe_that_is_the_rows_own_failure_says_nothing_about_the_provider(circuit, clock):
    circuit.refused(1, "500")
    circuit.accepted(2)
    circuit.refused(3, "500")  # a new opening, by row 3
    clock.now = circuit.until
    circuit.begin_probe(1)
    assert circuit.refused(1, "500") is True  # accepted (2) since row 1's refusal
    assert circuit.state == "probing"
    circuit.end_probe()
    assert circuit.pause_left() == 0 and circuit.failed_probes == 0


def test_begin_probe_only_when_open(circuit):
    circuit.begin_probe(1)
    assert circuit.closed and circuit.probe is None
    circuit.end_probe()
    assert circuit.closed


def test_finished_rows_are_forgotten_and_memory_is_bounded(clock):
    circuit = Circuit(monotonic=clock, rng=random.Random(2), remember=3)
    for row in (1, 2, 3):
        circuit.refused(row, "500")
    circuit.accepted(2)
    circuit.forget(3)
    assert circuit.remembered() == 1
    for row in (4, 5, 6):
        circuit.refused(row, "500")
    assert circuit.remembered() == 3  # row 1, the oldest, went first
    circuit.accepted(99)
    # Forgotten: its next refusal is the provider's, so forgetting never charges a try.
    assert circuit.refused(1, "500") is False
    assert circuit.refused(5, "500") is True


def test_logs_name_codes_and_counts_only(circuit, clock, caplog):
    caplog.set_level(logging.INFO, logger="bot.sending.circuit")
    circuit.refused(1, "500/20500")
    clock.now = circuit.until
    circuit.begin_probe(2)
    circuit.refused(2, "429/20429")
    clock.now = circuit.until
    circuit.begin_probe(1)
    circuit.accepted(1)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING"]
    assert "pausing all sends" in caplog.records[0].getMessage()
    assert "2 refusals (429/20429 x1, 500/20500 x1), 1 failed probes" in text

"""memrl.signals: the first SIGINT or SIGTERM asks for a clean stop; the handlers come back."""

from __future__ import annotations

import signal
import threading

import pytest

from memrl.signals import StopRequest, raise_interrupt, stop_signals

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be set in the main thread",
)


@pytest.fixture
def recorded_sigterm():
    """SIGTERM records itself instead of ending the test process, for the test's duration."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: seen.append(number))
    yield seen
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_the_first_stop_signal_requests_a_stop_and_a_second_acts_as_before(
    recorded_sigterm, first
) -> None:
    stop = StopRequest()
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with stop_signals(stop.request):
        signal.raise_signal(first)
        assert stop.requested
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
        signal.raise_signal(signal.SIGTERM)
        assert recorded_sigterm == [signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_without_a_signal_the_block_changes_nothing(recorded_sigterm) -> None:
    stop = StopRequest()
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with stop_signals(stop.request):
        assert signal.getsignal(signal.SIGTERM) not in before
    assert not stop.requested and recorded_sigterm == []
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_raise_interrupt_turns_sigterm_into_keyboard_interrupt(recorded_sigterm) -> None:
    with pytest.raises(KeyboardInterrupt), stop_signals(raise_interrupt):
        signal.raise_signal(signal.SIGTERM)
    assert recorded_sigterm == []


def test_outside_the_main_thread_the_handlers_stay() -> None:
    before = signal.getsignal(signal.SIGTERM)
    inside: list[object] = []

    def body() -> None:
        with stop_signals(StopRequest().request):
            inside.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert inside == [before]

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
def recorded_signals():
    """SIGINT and SIGTERM record themselves instead of acting (ending the test process, or
    whatever the test runner set), for the test's duration."""
    seen: list[int] = []
    previous = {
        number: signal.signal(number, lambda number, frame: seen.append(number))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    yield seen
    for number, action in previous.items():
        signal.signal(number, action)


def handlers() -> tuple[object, object]:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_the_first_stop_signal_requests_a_stop_and_a_second_acts_as_before(
    recorded_signals, first, second
) -> None:
    stop = StopRequest()
    before = handlers()
    with stop_signals(stop.request):
        assert handlers() != before
        signal.raise_signal(first)
        assert stop.requested and recorded_signals == []
        assert handlers() == before
        signal.raise_signal(second)
        assert recorded_signals == [second]
    assert handlers() == before


def test_without_a_signal_the_block_changes_nothing(recorded_signals) -> None:
    stop = StopRequest()
    before = handlers()
    with stop_signals(stop.request):
        pass
    assert not stop.requested and recorded_signals == []
    assert handlers() == before


def test_raise_interrupt_turns_sigterm_into_keyboard_interrupt(recorded_signals) -> None:
    with pytest.raises(KeyboardInterrupt), stop_signals(raise_interrupt):
        signal.raise_signal(signal.SIGTERM)
    assert recorded_signals == []


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

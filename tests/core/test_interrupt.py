"""StopRequest: the first Ctrl-C or SIGTERM asks the run to stop, the second interrupts."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from accelml.core.interrupt import StopRequest


def test_first_signal_requests_a_stop_second_interrupts() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.reason == "SIGTERM"
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the second signal should have interrupted")
    assert stop.reason == "SIGTERM"  # the first reason is kept
    assert signal.getsignal(signal.SIGINT) is before


def test_handlers_are_restored_on_exit() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before and not stop.requested


def test_outside_the_main_thread_it_installs_nothing() -> None:
    seen: list[object] = []

    def enter() -> None:
        with StopRequest() as stop:
            seen.append(signal.getsignal(signal.SIGINT))
            stop.request("test")
            seen.append(stop.reason)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGINT), "test"]

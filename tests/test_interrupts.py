"""Signals held while a checkpoint is written (kasc.files.interrupts.stops_held)."""

import os
import signal

import pytest

from kasc.files.interrupts import Interrupted, interruptible, stops_held, stops_named


@pytest.fixture
def sigint_as_a_terminal_has_it():
    """pytest-xdist's workers may ignore SIGINT; a terminal's Python raises KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_during_a_held_write_waits_for_the_write_then_stops(signum, sigint_as_a_terminal_has_it):
    steps = []
    with pytest.raises(Interrupted) as caught:
        with interruptible():
            with stops_held():
                os.kill(os.getpid(), signum)
                steps.append("after the signal")  # the block goes on: the write is not cut
                os.kill(os.getpid(), signal.SIGTERM)  # a second stop changes nothing
                steps.append("end of the write")
            steps.append("after the block")  # never: the held stop is raised as the block ends
    assert steps == ["after the signal", "end of the write"]
    assert caught.value.signum == signum


def test_the_handlers_before_are_back_after_a_held_block(sigint_as_a_terminal_has_it):
    term = signal.getsignal(signal.SIGTERM)
    with stops_held():
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is term


def test_an_error_inside_a_held_block_is_raised_as_it_is(sigint_as_a_terminal_has_it):
    with pytest.raises(ValueError, match="disk"):
        with stops_held():
            raise ValueError("disk full")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_stop_names_the_innermost_run_that_was_training(sigint_as_a_terminal_has_it):
    """A teacher trained inside a student's run: the stop reports the teacher's checkpoint."""
    with pytest.raises(Interrupted) as caught:
        with interruptible():
            with stops_named("student run", 200):
                with stops_named("teacher run", 40):
                    os.kill(os.getpid(), signal.SIGINT)
                    signal.getsignal(signal.SIGINT)  # the KeyboardInterrupt is raised here or before
    assert caught.value.stopped_in == ("teacher run", 40)
    with pytest.raises(Interrupted) as caught:
        with interruptible():
            with stops_named("student run", 200):
                raise Interrupted(signal.SIGTERM)
    assert caught.value.stopped_in == ("student run", 200) and caught.value.signum == signal.SIGTERM

import time

import pykka
import pytest

from waldur_site_agent_actors.actors.timer import Timer


class Counter(pykka.ThreadingActor):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_receive(self, message):
        self.seen.append(message)

    def messages(self):
        return list(self.seen)


def seen(ref, count):
    """The first `count` messages `ref` received, once it has that many (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = ref.proxy().messages().get(timeout=5)
        if len(messages) >= count:
            return messages
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} messages: {messages}")


@pytest.fixture
def timer():
    t = Timer()
    yield t
    t.stop()


def test_once_tells_after_its_delay_and_in_order_of_due_time(timer):
    ref = Counter.start()
    try:
        timer.once(ref, "later", 0.2)
        timer.once(ref, "sooner", 0.0)
        timer.once(ref, "last", 0.3)
        assert seen(ref, 3) == ["sooner", "later", "last"]
    finally:
        ref.stop()


def test_a_cancelled_entry_is_never_told_and_cancel_says_whether_it_was_in_time(timer):
    ref = Counter.start()
    try:
        cancelled = timer.once(ref, "cancelled", 0.05)
        assert timer.cancel(cancelled) is True
        fired = timer.once(ref, "fired", 0.0)
        assert seen(ref, 1) == ["fired"]
        assert timer.cancel(fired) is False  # it fired: too late to cancel
        timer.once(ref, "after", 0.1)  # due after the cancelled one would have been
        assert seen(ref, 2) == ["fired", "after"]
    finally:
        ref.stop()


def test_a_dead_actor_does_not_stop_the_timer(timer):
    dead = Counter.start()
    timer.once(dead, "to the dead", 0.0)
    dead.stop()
    other = Counter.start()
    try:
        timer.once(other, "still alive", 0.01)
        assert seen(other, 1) == ["still alive"]
    finally:
        other.stop()

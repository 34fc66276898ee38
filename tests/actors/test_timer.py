import time

import pykka

from waldur_site_agent_actors.actors.timer import Timer


class Counter(pykka.ThreadingActor):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_receive(self, message):
        self.seen.append(message)

    def count(self):
        return len(self.seen)


def test_every_tells_repeatedly_and_cancel_stops_it():
    timer = Timer()
    ref = Counter.start()
    try:
        handle = timer.every(ref, "tick", 0.05)
        time.sleep(0.32)
        timer.cancel(handle)
        seen = ref.proxy().count().get()
        assert 4 <= seen <= 8
        time.sleep(0.2)
        assert ref.proxy().count().get() == seen
    finally:
        ref.stop()
        timer.stop()


def test_once_fires_once_after_the_delay():
    timer = Timer()
    ref = Counter.start()
    try:
        timer.once(ref, "later", 0.1)
        time.sleep(0.05)
        assert ref.proxy().count().get() == 0
        time.sleep(0.15)
        assert ref.proxy().count().get() == 1
    finally:
        ref.stop()
        timer.stop()


def test_a_dead_actor_cancels_its_schedule():
    timer = Timer()
    ref = Counter.start()
    timer.every(ref, "tick", 0.02)
    ref.stop()
    time.sleep(0.1)  # the timer must survive telling a dead actor
    other = Counter.start()
    try:
        timer.once(other, "still alive", 0.01)
        time.sleep(0.1)
        assert other.proxy().count().get() == 1
    finally:
        other.stop()
        timer.stop()

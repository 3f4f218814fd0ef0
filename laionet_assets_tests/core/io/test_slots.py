"""The gpu pool's slots on one machine: a slot is held by one process at a time, a pool of n
slots lets n in at once, and a process that dies gives its slot back."""

import multiprocessing
import os
import queue
import signal

import pytest

from laionet_assets.core.io.slots import machine_slot

# fork: the child only takes a lock, and starts in milliseconds
CONTEXT = multiprocessing.get_context("fork")


def hold(folder, slots, entered, release):
    with machine_slot(folder, "gpu", slots) as number:
        entered.put(number)
        release.wait(60)


def start(folder, slots, entered, release):
    process = CONTEXT.Process(target=hold, args=(folder, slots, entered, release), daemon=True)
    process.start()
    return process


@pytest.mark.parametrize("slots", [1, 2])
def test_a_pool_of_n_slots_lets_n_processes_in_and_the_next_waits(tmp_path, slots):
    entered, release = CONTEXT.Queue(), CONTEXT.Event()
    holders = [start(tmp_path, slots, entered, release) for _ in range(slots)]
    assert sorted(entered.get(timeout=60) for _ in holders) == list(range(slots))
    waiting = start(tmp_path, slots, entered, release)
    with pytest.raises(queue.Empty):  # the next process waits while every slot is held
        entered.get(timeout=1)
    release.set()
    assert entered.get(timeout=60) in range(slots)
    for process in [*holders, waiting]:
        process.join(60)
        assert process.exitcode == 0


def test_a_killed_holder_gives_its_slot_back(tmp_path):
    entered, never = CONTEXT.Queue(), CONTEXT.Event()
    holder = start(tmp_path, 1, entered, never)
    assert entered.get(timeout=60) == 0
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(60)
    waited = []
    with machine_slot(tmp_path, "gpu", 1, on_wait=lambda: waited.append(1)) as number:
        assert number == 0 and waited == []


def test_a_full_pool_calls_on_wait_before_waiting(tmp_path):
    entered, release = CONTEXT.Queue(), CONTEXT.Event()
    holder = start(tmp_path, 1, entered, release)
    assert entered.get(timeout=60) == 0
    waited = []

    def on_wait():
        waited.append(1)
        release.set()

    with machine_slot(tmp_path, "gpu", 1, on_wait=on_wait) as number:
        assert number == 0 and waited == [1]
    holder.join(60)

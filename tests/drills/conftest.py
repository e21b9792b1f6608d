"""Fixtures of the fault drills: a sync stack started with the drill's own worker settings,
and other processes that are stopped after the test whatever happened."""

import os
import signal
from collections.abc import Callable, Iterator, Mapping

import pytest

from klaviyo_emulator import Emulator
from testkit.procs import Process, start_process
from testkit.stack import SyncStack

StartStack = Callable[..., SyncStack]
Spawn = Callable[[str, list[str], Mapping[str, str]], Process]


@pytest.fixture
def start_stack(
    transactional_db: None, broker: str, celery_producer: None, emulator: Emulator
) -> Iterator[StartStack]:
    """`start_stack(concurrency=1, **worker_settings)`: the emulator, a fresh broker and a
    ready worker on this test's database; the worker is stopped after the test."""
    stacks: list[SyncStack] = []

    def start(*, broker_url: str = broker, concurrency: int = 1, **settings: str) -> SyncStack:
        stack = SyncStack.start(
            broker=broker_url, emulator=emulator, concurrency=concurrency, **settings
        )
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        stack.stop_worker()


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """`spawn(name, args, env)`: testkit.procs.start_process, stopped after the test (let go
    first if the drill had paused it)."""
    started: list[Process] = []

    def start(name: str, args: list[str], env: Mapping[str, str]) -> Process:
        process = start_process(name, args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            os.killpg(process.pid, signal.SIGCONT)
        process.stop()

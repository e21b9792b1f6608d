"""Runs a few named processes together, as `manage.py serve` does in the embedded mode (web,
worker, beat): every line they write comes out prefixed with its process's name; SIGINT
(Ctrl-C) or SIGTERM stops them all (SIGTERM to each, SIGKILL to what is left after a grace
period, or at once on a second signal); one exiting on its own stops the others.

Each child runs in its own process group, so a Ctrl-C in the terminal reaches the supervisor
only and each child gets exactly one SIGTERM (a second SIGINT would make Celery's worker drop
its running tasks). On Linux each child also gets SIGTERM if the supervisor dies (SIGKILL):
no process outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    popen: subprocess.Popen | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    libc_name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and libc_name:
        ctypes.CDLL(libc_name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(
        self,
        processes: Mapping[str, Sequence[str]],
        *,
        env: Mapping[str, str] | None = None,
        out: IO[bytes] | None = None,
        stop_timeout: float = 35.0,
    ) -> None:
        self.children = [Child(name, argv) for name, argv in processes.items()]
        self.env = dict(env if env is not None else os.environ)
        self.out = out or sys.stdout.buffer
        self.stop_timeout = stop_timeout
        self.width = max(len(name) for name in [*processes, "serve"])
        self._write_lock = threading.Lock()
        self._signals: list[int] = []

    def say(self, text: str, *, name: str = "serve") -> None:
        self._write(name, text.encode() + b"\n")

    def run(self) -> int:
        """Starts every process and returns when all have stopped: 0 after a signal, 1 when a
        process exited on its own (its name and code are said)."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            # Every fork before any reader thread starts (fork with threads is unsafe).
            for child in self.children:
                child.popen = subprocess.Popen(
                    child.argv,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            for child in self.children:
                child.reader = threading.Thread(
                    target=self._relay, args=(child,), name=f"relay-{child.name}", daemon=True
                )
                child.reader.start()
            self.say(f"started {', '.join(f'{c.name} (pid {c.popen.pid})' for c in self.children)}")
            exited = self._wait_for_signal_or_exit()
            if exited is not None:
                self.say(f"{exited.name} exited with code {exited.popen.returncode}: stopping")
            else:
                self.say("stopping (a second Ctrl-C kills at once)")
            self._stop_all()
            return 0 if exited is None else 1
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)
        if len(self._signals) > 1:
            self._signal_all(signal.SIGKILL)

    def _wait_for_signal_or_exit(self) -> Child | None:
        while not self._signals:
            for child in self.children:
                if child.popen.poll() is not None:
                    return child
            time.sleep(0.1)
        return None

    def _stop_all(self) -> None:
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in self.children:
            try:
                child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} still running after {self.stop_timeout:.0f} s: killed")
                self._signal_group(child, signal.SIGKILL)
                child.popen.wait()
        for child in self.children:
            # The group too: a pool process its parent could not stop.
            self._signal_group(child, signal.SIGKILL)
            if child.reader is not None:
                child.reader.join(timeout=2)
            self.say(f"{child.name} stopped (exit code {child.popen.returncode})")

    def _signal_all(self, signum: int) -> None:
        for child in self.children:
            if child.popen is not None and child.popen.poll() is None:
                self._signal_group(child, signum)

    @staticmethod
    def _signal_group(child: Child, signum: int) -> None:
        # Gunicorn and Celery stop their own workers on SIGTERM: only the leader gets it.
        # SIGKILL goes to the whole group, which nothing can refuse.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if signum == signal.SIGKILL:
                os.killpg(child.popen.pid, signum)
            else:
                os.kill(child.popen.pid, signum)

    def _relay(self, child: Child) -> None:
        for line in iter(child.popen.stdout.readline, b""):
            self._write(child.name, line if line.endswith(b"\n") else line + b"\n")
        child.popen.stdout.close()

    def _write(self, name: str, line: bytes) -> None:
        with self._write_lock:
            self.out.write(f"{name:<{self.width}} | ".encode() + line)
            self.out.flush()

"""CPU time of processes from /proc, for benchmarks: a server's by the port it listens on, and
MariaDB's. Linux only."""

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def server_pids(port: int) -> list[int]:
    """Every process holding the listening socket: gunicorn's master and its workers."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def mariadb_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            name = (proc / "comm").read_text().strip() if proc.name.isdigit() else ""
            if name in ("mariadbd", "mysqld"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS

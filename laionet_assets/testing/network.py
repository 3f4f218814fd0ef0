"""Tests never reach beyond the machine.

``install()`` makes every socket connection to an address that is not loopback, and every name
lookup other than a loopback name, fail in-process before any packet leaves, and records the
attempt: in ``ATTEMPTS``, and appended to the file ``LAIONET_TEST_NETWORK_LOG`` names, from every
process that installed the guard.  ``site_folder`` writes a ``sitecustomize`` that installs it,
so processes the tests start (the CLI, Dagster's run and step processes) are guarded too.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
from pathlib import Path

LOG_VARIABLE = "LAIONET_TEST_NETWORK_LOG"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
ATTEMPTS: list[dict] = []  # this process's refused attempts


class OutsideTheMachine(ConnectionRefusedError):
    """A test tried to reach an address beyond the machine; nothing was sent."""


def _is_loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower().rstrip(".") in LOOPBACK_NAMES
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _refuse(kind: str, target: str) -> None:
    attempt = {"kind": kind, "target": target, "pid": os.getpid()}
    ATTEMPTS.append(attempt)
    log = os.environ.get(LOG_VARIABLE)
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps(attempt) + "\n")


def recorded(log: str | os.PathLike | None = None) -> list[dict]:
    """Every refused attempt: this process's, and those the log file holds."""
    log = log or os.environ.get(LOG_VARIABLE)
    lines = Path(log).read_text().splitlines() if log and Path(log).exists() else []
    return [json.loads(line) for line in lines] if log else list(ATTEMPTS)


def install() -> None:
    """Guard this process (once)."""
    if getattr(socket.socket.connect, "guarded", False):
        return
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def outside(sock: socket.socket, address) -> bool:
        return sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(address[0]))

    def guarded_connect(self, address):
        if outside(self, address):
            _refuse("connect", f"{address[0]}:{address[1]}")
            raise OutsideTheMachine(errno.ECONNREFUSED, f"tests reach only loopback, not {address[0]}")
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if outside(self, address):
            _refuse("connect", f"{address[0]}:{address[1]}")
            return errno.ECONNREFUSED
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(name):
            _refuse("lookup", name)
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve only loopback names, not {name}")
        return getaddrinfo(host, *args, **kwargs)

    guarded_connect.guarded = True
    socket.socket.connect, socket.socket.connect_ex = guarded_connect, guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo


SITECUSTOMIZE = """\
from laionet_assets.testing.network import install

install()
"""


def site_folder(folder: str | os.PathLike) -> Path:
    """A folder holding a ``sitecustomize`` that installs the guard; put it on ``PYTHONPATH``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder

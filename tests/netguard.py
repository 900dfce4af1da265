"""Record and refuse network access beyond loopback (the air-gap tests' tool).

``install(log_path)`` wraps the socket module so that every connect, send-to and name lookup is
appended to a log as ``kind host port``; anything that is not loopback (or a Unix socket) is refused
with ``OSError``. Used in-process by Pilot tests and, through ``tests/netguard_site/sitecustomize.py``,
in subprocesses (``SLMDECK_NETGUARD_LOG`` names the log).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_originals: dict[str, Any] = {}


def is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def install(log_path: Path | str) -> None:
    """Start recording and refusing; idempotent."""
    if _originals:
        return
    log = Path(log_path)

    def record(kind: str, host: object, port: object) -> None:
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"{kind} {host} {port}\n")

    def check(kind: str, family: int, address: Any) -> None:
        if family == getattr(socket, "AF_UNIX", None):
            return
        host, port = (address[0], address[1]) if isinstance(address, tuple) else (address, "")
        record(kind, host, port)
        if not is_loopback(host):
            raise OSError(f"netguard: {kind} to {host}:{port} refused (not loopback)")

    sock_cls = socket.socket
    _originals["connect"] = sock_cls.connect
    _originals["connect_ex"] = sock_cls.connect_ex
    _originals["sendto"] = sock_cls.sendto
    _originals["getaddrinfo"] = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        check("connect", self.family, address)
        _originals["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check("connect", self.family, address)
        result: int = _originals["connect_ex"](self, address)
        return result

    def sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        check("sendto", self.family, args[-1])
        result: int = _originals["sendto"](self, data, *args)
        return result

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None:
            name = host.decode() if isinstance(host, bytes) else str(host)
            record("lookup", name, port)
            if not is_loopback(name):
                raise socket.gaierror(socket.EAI_NONAME, f"netguard: lookup of {name} refused")
        return _originals["getaddrinfo"](host, port, *args, **kwargs)

    sock_cls.connect = connect  # type: ignore[method-assign]
    sock_cls.connect_ex = connect_ex  # type: ignore[method-assign]
    sock_cls.sendto = sendto  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo


def uninstall() -> None:
    if not _originals:
        return
    socket.socket.connect = _originals.pop("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _originals.pop("connect_ex")  # type: ignore[method-assign]
    socket.socket.sendto = _originals.pop("sendto")  # type: ignore[method-assign]
    socket.getaddrinfo = _originals.pop("getaddrinfo")


def read_log(log_path: Path | str) -> list[tuple[str, str, str]]:
    path = Path(log_path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, host, port = [*line.split(" "), "", ""][:3]
        rows.append((kind, host, port))
    return rows

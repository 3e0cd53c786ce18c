"""Who is on the other end of a loopback TCP connection: the uid that owns the peer's socket.

Runtime clients speak TCP (AWS_LAMBDA_RUNTIME_API=host:port), and on a shared host any process
can connect to any loopback port. The kernel knows who opened each socket: /proc/net/tcp lists
every socket of this network namespace with its owner's uid, keyed by its local address, which
is the peer address our side of the connection sees. Reading it costs well under a millisecond
and happens once per connection (runtime clients keep theirs alive), so every Runtime API port
and the sandbox's own endpoints can tell an environment's uid, or anyone else, from the peer.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable

__all__ = ["peer_process", "peer_uid"]

_TABLES: dict[int, str] = {socket.AF_INET: "/proc/net/tcp", socket.AF_INET6: "/proc/net/tcp6"}


def _hex_address(family: int, host: str, port: int) -> str:
    """An address as /proc/net/tcp writes it: the packed address's 32-bit words in host byte
    order, in hex, then the port."""
    packed = socket.inet_pton(family, host)
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{w:08X}" for w in words) + f":{port:04X}"


def _family(host: str) -> tuple[str, int]:
    if host.startswith("::ffff:"):
        return host[7:], socket.AF_INET
    return host, socket.AF_INET6 if ":" in host else socket.AF_INET


def _peer_socket(peername: object, sockname: object) -> list[bytes] | None:
    """The /proc/net/tcp row of the socket at `peername` connected to `sockname`."""
    if not isinstance(peername, tuple) or not isinstance(sockname, tuple):
        return None
    try:
        host, family = _family(str(peername[0]))
        ours, _ = _family(str(sockname[0]))
        local = _hex_address(family, host, int(peername[1])).encode()
        remote = _hex_address(family, ours, int(sockname[1])).encode()
        with open(_TABLES[family], "rb") as table:
            next(table)
            for line in table:
                fields = line.split(None, 10)
                if fields[1] == local and fields[2] == remote:
                    return fields
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return None


def peer_uid(peername: object, sockname: object) -> int | None:
    """The uid owning the socket at `peername` (host, port) that is connected to `sockname`
    (our end); None when it is not a local socket (or it has gone)."""
    fields = _peer_socket(peername, sockname)
    try:
        return int(fields[7]) if fields is not None else None
    except (ValueError, IndexError):
        return None


def peer_process(peername: object, sockname: object, candidates: Iterable[int]) -> int | None:
    """Which of the `candidates` (pids) holds the peer socket: the kernel names the socket's
    inode in /proc/net/tcp and in the holder's /proc/<pid>/fd links."""
    fields = _peer_socket(peername, sockname)
    if fields is None or len(fields) < 10:
        return None
    link = f"socket:[{fields[9].decode()}]"
    for pid in candidates:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == link:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None

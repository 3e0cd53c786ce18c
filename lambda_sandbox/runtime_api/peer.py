"""Who is on the other end of a loopback TCP connection: the uid that owns the peer's socket.

Runtime clients speak TCP (AWS_LAMBDA_RUNTIME_API=host:port), and on a shared host any process
can connect to any loopback port. The kernel knows who opened each socket: /proc/net/tcp lists
every socket of this network namespace with its owner's uid, keyed by its local address, which
is the peer address our side of the connection sees. Reading it costs well under a millisecond
and happens once per connection (runtime clients keep theirs alive), so every Runtime API port
and the sandbox's own endpoints can tell an environment's uid, or anyone else, from the peer.
"""

from __future__ import annotations

import socket
import struct

__all__ = ["peer_uid"]

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


def peer_uid(peername: object, sockname: object) -> int | None:
    """The uid owning the socket at `peername` (host, port) that is connected to `sockname`
    (our end); None when it is not a local socket (or it has gone)."""
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
                fields = line.split(None, 8)
                if fields[1] == local and fields[2] == remote:
                    return int(fields[7])
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return None

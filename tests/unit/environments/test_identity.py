"""Each environment's own uid (environments/identity.py) and telling a connection's uid from
its socket (runtime_api/peer.py): what the isolation attack tests stand on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lambda_sandbox.environments.identity import (
    FIRST_UID,
    UID_COUNT,
    IdentityPool,
    is_environment_uid,
)
from lambda_sandbox.runtime_api.peer import peer_uid


def test_two_sandboxes_never_hand_out_the_same_uid(tmp_path: Path) -> None:
    one, two = IdentityPool("s1-a", tmp_path), IdentityPool("s2-b", tmp_path)
    one.open(lambda s: True)
    taken = [one.acquire() for _ in range(3)] + [two.acquire() for _ in range(3)]
    uids = [uid for uid, _ in taken]
    assert len(set(uids)) == 6 and all(is_environment_uid(u) for u in uids)
    assert all(gid == uid for uid, gid in taken)
    one.release(uids[0])
    assert not (tmp_path / str(uids[0])).exists()
    assert (tmp_path / str(uids[3])).read_text() == "s2-b"
    two.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(str(u) for u in uids[1:3])


def test_a_dead_sessions_uids_are_taken_back(tmp_path: Path) -> None:
    dead = IdentityPool("s999999-dead", tmp_path)
    dead.open(lambda s: True)
    held = dead.acquire()[0]
    alive = IdentityPool("s1-alive", tmp_path)
    assert alive.open(lambda s: s != "s999999-dead") == 1
    assert not (tmp_path / str(held)).exists()


def test_the_range_is_the_sandboxes_own() -> None:
    assert not is_environment_uid(0) and not is_environment_uid(65534)
    assert not is_environment_uid(None) and not is_environment_uid(FIRST_UID + UID_COUNT)
    assert is_environment_uid(FIRST_UID) and is_environment_uid(FIRST_UID + UID_COUNT - 1)


def test_peer_uid_of_a_connection_from_this_process() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            conn, peer = server.accept()
            with conn:
                assert peer_uid(peer, conn.getsockname()) == os.geteuid()
                assert peer_uid(("127.0.0.1", 1), conn.getsockname()) is None
                assert client.getsockname() == peer
    assert peer_uid("not an address", None) is None


@pytest.mark.root
def test_peer_uid_of_a_connection_from_another_uid() -> None:
    """A process of another uid connects: its uid is what the peer's socket says."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"import socket; s = socket.create_connection(('127.0.0.1', {port})); s.recv(1)"
        # the system's Python: the checkout's venv need not be reachable by another uid
        python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        child = subprocess.Popen([python, "-S", "-c", code], user=FIRST_UID + 7, cwd="/")
        try:
            conn, peer = server.accept()
            with conn:
                assert peer_uid(peer, conn.getsockname()) == FIRST_UID + 7
                conn.sendall(b"x")
        finally:
            child.wait(10)


def test_only_session_names_count_as_sessions() -> None:
    from lambda_sandbox.sessions import is_session_name, new_session_id, session_alive

    mine = new_session_id()
    assert is_session_name(mine) and session_alive(mine)
    assert not is_session_name("sh-is-bash") and not session_alive("sh-is-bash")
    assert not is_session_name("s1-notahex") and is_session_name("s999999-d0c70f")
    assert not session_alive("s999999-d0c70f")

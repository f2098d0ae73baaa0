"""Taking a listening port before anything is announced, so a busy one is said at once."""

from __future__ import annotations

import errno
import socket

from halosync.errors import HalosyncError


class PortInUseError(HalosyncError):
    """Something else listens on the port a command was asked to serve on."""


def bind_port(host: str, port: int, *, option: str = "--port") -> socket.socket:
    """A socket bound to ``host:port`` (``port`` 0 picks a free one); ``option`` is the
    command's flag for the port, named in the error when the port is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} is in use; pass {option} (0 picks a free one)."
            ) from None
        raise HalosyncError(
            f"Cannot listen on {host}:{port}: {error.strerror or error}.",
            fix=f"Pass another --host or {option}.",
        ) from None
    # Listening now: a client that connects before the server loop runs waits, not refused.
    sock.listen(2048)
    return sock

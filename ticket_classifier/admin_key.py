"""The admin key that guards Triton's model-control API (standard library only).

Triton's HTTP and gRPC APIs include model control: ``load`` can carry model files, that is
Python code for the Python backend, and ``unload`` takes the service down. Triton restricts
such API groups to requests carrying a header with a given value
(``--http-restricted-api`` / ``--grpc-restricted-protocol``). This module owns that header's
name, the groups restricted, and where the key comes from: a file or the environment, never a
command-line flag of ours (the launcher hands it to ``tritonserver``, which only takes it as an
argument: local users of the host can read it there, see the README's security section).
"""

import ipaddress
import os
import re
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError

ADMIN_KEY_ENV = "TICKET_CLASSIFIER_ADMIN_KEY"
ADMIN_KEY_HEADER = "admin-key"
# gRPC metadata key that Triton checks for a restricted protocol (it prefixes the header name).
ADMIN_KEY_GRPC_HEADER = "triton-grpc-protocol-" + ADMIN_KEY_HEADER
RESTRICTED_APIS = ("model-repository", "shared-memory", "logging", "trace")
MIN_KEY_LENGTH = 16
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._~+/-]+$")


def read_admin_key(key_file: "str | os.PathLike[str] | None" = None) -> str | None:
    """The admin key from ``key_file`` when given, else from ``$TICKET_CLASSIFIER_ADMIN_KEY``; None when neither."""
    if key_file:
        path = Path(key_file)
        try:
            key = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise TicketClassifierError(f"admin key file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TicketClassifierError(f"cannot read the admin key file {path}: {exc}") from None
        source = str(path)
    else:
        key = os.environ.get(ADMIN_KEY_ENV, "").strip()
        source = ADMIN_KEY_ENV
        if not key:
            return None
    if len(key) < MIN_KEY_LENGTH or not _KEY_PATTERN.match(key):
        raise TicketClassifierError(
            f"the admin key from {source} must be at least {MIN_KEY_LENGTH} characters of letters, digits "
            "and ._~+/- (for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return key


def restricted_api_arguments(key: str) -> list[str]:
    """The ``tritonserver`` arguments that restrict model control, shared memory, logging and tracing to ``key``."""
    groups = ",".join(RESTRICTED_APIS)
    return [
        f"--http-restricted-api={groups}:{ADMIN_KEY_HEADER}={key}",
        f"--grpc-restricted-protocol={groups}:{ADMIN_KEY_HEADER}={key}",
    ]


def is_loopback(address: str) -> bool:
    """True for an address only this host can reach (127.0.0.0/8, ::1, ``localhost``)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def require_key_beyond_loopback(bind_address: str, key: str | None) -> None:
    """Refuse to expose an unrestricted model-control API beyond loopback."""
    if key is None and not is_loopback(bind_address):
        raise TicketClassifierError(
            f"server bind_address {bind_address} is reachable from other hosts, and Triton's model-control API "
            f"(load, unload: code execution) would be open to them: set an admin key in ${ADMIN_KEY_ENV} or "
            "server.admin_key_file, or bind to 127.0.0.1 (README, section 'Security')"
        )

"""Versioned rollout in explicit model-control mode: no failed request, and no broken version ever served.

The step models load the versions listed in ``repository_state.json`` (``served``); the
ensemble pins every step to the ``active`` one. Rolling out version N:

1. check N's files offline (:func:`~ticket_classifier.build.version_check.check_version_files`):
   a truncated ONNX file or a missing tokenizer never reaches the server; then, where the pip
   server is installed, serve N alone from a throwaway server on loopback and send it a ticket
   (:func:`~ticket_classifier.build.version_check.check_version_in_staging`): a model that cannot
   start never reaches the live server either;
2. load N beside the active version (the step configurations list both), wait until each
   step's version N is ready, and send one ticket through N's steps;
3. point the ensemble at N and reload it: Triton swaps it once the new configuration is ready,
   and requests in flight finish on the old version; then record N as active.

If step 1 or 2 fails, N is quarantined (its folders renamed ``quarantined-N``, the reason
recorded), the step configurations go back to what they were, and the error says why: the
active version served throughout, and a restarted server loads only checked versions. Rolling
back is a rollout to a version that is still loaded: only step 3 runs, nothing waits on a
broken version.
"""

import logging
import ssl
from pathlib import Path

from ticket_classifier.admin_key import ADMIN_KEY_HEADER
from ticket_classifier.build.layout import quarantine, read_state, versions, write_state
from ticket_classifier.build.model_configs import VersionBuild
from ticket_classifier.build.repository import write_ensemble, write_member_configs
from ticket_classifier.build.version_check import check_version_files, check_version_in_staging, probe_version
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import ENSEMBLE
from ticket_classifier.triton_admin import TritonAdmin

log = logging.getLogger(__name__)


def rollout(
    repository: "str | Path",
    version: int,
    url: str,
    *,
    admin_key: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 300.0,
) -> dict:
    """Make ``version`` the one the running server's ensemble uses; returns the previous and new versions.

    ``url`` is the server's HTTP address (``host:port``, or an ``https://`` URL behind a TLS proxy).
    """
    repository = Path(repository)
    state = read_state(repository)
    if state is None:
        raise TicketClassifierError(f"{repository} is not a built model repository")
    if str(version) in state.quarantined:
        raise TicketClassifierError(f"version {version} is quarantined: {state.quarantined[str(version)]}")
    if version not in versions(repository):
        raise TicketClassifierError(f"version {version} is not in {repository}")
    build = VersionBuild.from_record(state.build(version))
    for model in build.options.steps:
        if version not in versions(repository, model):
            raise TicketClassifierError(f"version {version} of {model} is not in {repository}")
    previous = state.active
    admin = TritonAdmin(url, admin_key=admin_key, ssl_context=ssl_context)
    if not admin.is_live():
        raise TicketClassifierError(f"no Triton server answers at {admin.url}")
    if version == previous:
        return {"previous": previous, "active": version}
    active_build = VersionBuild.from_record(state.build(previous))
    served = state.served
    if version not in served:
        served = _load_candidate(repository, version, admin, build, active_build, state, timeout_s)
    write_ensemble(repository, build, version)
    try:
        admin.load_model(ENSEMBLE, timeout_s=timeout_s)
        admin.wait_for_model(ENSEMBLE, timeout_s=timeout_s)
    except TicketClassifierError:
        write_ensemble(repository, active_build, previous)
        admin.load_model(ENSEMBLE, timeout_s=timeout_s)
        raise
    state.active, state.served = version, served
    write_state(repository, state)
    log.info("ensemble %s now serves version %d (was %d)", ENSEMBLE, version, previous)
    return {"previous": previous, "active": version}


def _load_candidate(repository, version, admin, build, active_build, state, timeout_s) -> list[int]:
    """Check ``version`` offline, load it beside the active one and probe it; quarantine it on any failure."""
    active, served = state.active, state.served
    try:
        check_version_files(repository, version)
        check_version_in_staging(repository, version, build, timeout_s)
    except TicketClassifierError as exc:
        _reject(repository, version, active, str(exc))
    loaded = build.options.keep_loaded(served, active, version)
    write_member_configs(repository, build, loaded)
    try:
        for model in build.options.steps:
            log.info("loading %s versions %s", model, loaded)
            admin.load_model(model, timeout_s=timeout_s)
            admin.wait_for_model(model, version, timeout_s=timeout_s)
        headers = {ADMIN_KEY_HEADER: admin.admin_key} if admin.admin_key else None
        probe_version(admin.url, version, build.options.steps, headers=headers, context=admin.ssl_context)
    except TicketClassifierError as exc:
        write_member_configs(repository, active_build, served)
        for model in active_build.options.steps:
            admin.load_model(model, timeout_s=timeout_s)
        _reject(repository, version, active, str(exc))
    return loaded


def _reject(repository: Path, version: int, active: int, reason: str) -> None:
    """Quarantine ``version`` and fail, saying why (first line of the reason) and what is still served."""
    reason = reason.strip().splitlines()[0] if reason.strip() else "unknown reason"
    quarantine(repository, version, reason)
    raise TicketClassifierError(
        f"version {version} cannot be served ({reason}); it was moved aside as "
        f"{repository}/<model>/quarantined-{version}; version {active} is still served"
    )

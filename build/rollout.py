"""Versioned rollout in explicit model-control mode, with no failed request.

The step models serve the newest ``version_policy_latest`` (default 2) versions side by side;
the ensemble pins every step to one version. Rolling out version N:

1. reload the three step models, so that version N loads beside the active one;
2. wait until version N of each is ready;
3. point the ensemble at N and reload it: Triton swaps it atomically once the new
   configuration is ready; requests in flight finish on the old version.

Rolling back is a rollout to the previous version, which is still loaded.
"""

import logging
from pathlib import Path

from ticket_classifier.build.layout import MEMBERS, active_version, model_info, versions
from ticket_classifier.build.model_configs import ENSEMBLE, RepositoryOptions
from ticket_classifier.build.repository import write_ensemble
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.triton_admin import TritonAdmin

log = logging.getLogger(__name__)


def rollout(repository: "str | Path", version: int, http_url: str, *, timeout_s: float = 300.0) -> dict:
    """Make ``version`` the one the running server's ensemble uses; returns the previous and new versions."""
    repository = Path(repository)
    for model in MEMBERS:
        if version not in versions(repository, model):
            raise TicketClassifierError(f"version {version} of {model} is not in {repository}")
    previous = active_version(repository)
    options = RepositoryOptions(**model_info(repository, version)["options"])
    admin = TritonAdmin(http_url)
    if not admin.is_live():
        raise TicketClassifierError(f"no Triton server answers at {http_url}")
    for model in MEMBERS:
        log.info("loading %s (versions now on disk: %s)", model, versions(repository, model))
        admin.load_model(model, timeout_s=timeout_s)
        admin.wait_for_model(model, version, timeout_s=timeout_s)
    # Loading a step makes Triton reload the ensemble that uses it: let that settle first.
    admin.wait_for_model(ENSEMBLE, timeout_s=timeout_s)
    write_ensemble(repository, options, version)
    try:
        admin.load_model(ENSEMBLE, timeout_s=timeout_s)
    except TicketClassifierError:
        if previous is not None:
            write_ensemble(repository, options, previous)
        raise
    admin.wait_for_model(ENSEMBLE, timeout_s=timeout_s)
    log.info("ensemble %s now serves version %d (was %s)", ENSEMBLE, version, previous)
    return {"previous": previous, "active": version}

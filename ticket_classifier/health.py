"""A health probe that tells the truth: one real ticket through the whole ensemble (standard library only).

Triton 2.51 keeps answering ``/v2/health/ready`` (and each model's ready endpoint) with 200
after a Python-backend stub has died, while every request fails with ``Stub process ... is not
healthy`` (upstream server issue 8604). Only an inference that runs every step says whether
the service works. The probe marks its request with the health-probe request parameter, so
that the product counters (and the drift monitor) do not count it as traffic.
"""

import json
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from ticket_classifier.runtime.contract import ENSEMBLE, HEALTH_PROBE_PARAMETER, MODEL_VERSION, TEXT_INPUTS

PROBE_TICKET = ("health probe", "The printer on floor 2 is jammed.")
_UNHEALTHY_STUB = re.compile(r"Stub process '(?P<model>.+?)_\d+_\d+' is not healthy")


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found: ``ok``; a detail (the served model version, or the error); whether the
    server ``answered`` at all (False: refused, timed out); the step model whose Python stub died,
    when the error names one."""

    ok: bool
    detail: str
    answered: bool = True
    dead_stub_model: str | None = None


def probe_request() -> bytes:
    """The JSON body of the probe's inference request."""
    inputs = [
        {"name": name, "shape": [1, 1], "datatype": "BYTES", "data": [text]}
        for name, text in zip(TEXT_INPUTS, PROBE_TICKET)
    ]
    body = {
        "parameters": {HEALTH_PROBE_PARAMETER: True},
        "inputs": inputs,
        "outputs": [{"name": MODEL_VERSION, "parameters": {"binary_data": False}}],
    }
    return json.dumps(body).encode("utf-8")


def probe(base_url: str, timeout_s: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> ProbeResult:
    """Send the probe ticket to ``base_url`` (``http://host:port`` or ``https://...``) and judge the answer."""
    request = urllib.request.Request(
        f"{base_url}/v2/models/{ENSEMBLE}/infer",
        data=probe_request(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=ssl_context) as response:
            answer = json.loads(response.read())
        version = next(output["data"][0] for output in answer["outputs"] if output["name"] == MODEL_VERSION)
        return ProbeResult(True, str(version))
    except urllib.error.HTTPError as exc:
        message = _error_text(exc.read()) or f"HTTP {exc.code}"
        found = _UNHEALTHY_STUB.search(message)
        return ProbeResult(False, message, dead_stub_model=found.group("model") if found else None)
    except (urllib.error.URLError, OSError) as exc:
        return ProbeResult(False, f"no answer: {getattr(exc, 'reason', exc)}", answered=False)
    except (ValueError, KeyError, StopIteration, IndexError):
        return ProbeResult(False, "the answer has no model version")


def _error_text(body: bytes) -> str:
    """Triton's error message from a JSON error body."""
    try:
        return str(json.loads(body).get("error", ""))
    except ValueError:
        return body.decode("utf-8", errors="replace").strip()


def main(argv: list[str] | None = None) -> int:
    """``python3 -m ticket_classifier.health``: probe once; exit 0 when the ensemble answered, else 1.

    The Kubernetes readiness and liveness probes of ``deploy/`` run this in the serving image,
    which has Python but not this project's dependencies: the standard library is enough.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m ticket_classifier.health", description=main.__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Triton's HTTP address (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    result = probe(args.url.rstrip("/"), timeout_s=args.timeout)
    print(("ready: model version " if result.ok else "not ready: ") + result.detail)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

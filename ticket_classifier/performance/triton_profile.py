"""Where the milliseconds go inside Triton: per-model queue and compute times from its counters.

Triton's metrics endpoint keeps cumulative counters per model; the difference of two snapshots
taken around a load level gives, per model (the ensemble and each step), the requests served,
the average batch the dynamic batcher formed (inferences per execution), and the average time
per request spent queued, copying inputs, computing and copying outputs.
"""

import re
import urllib.request

COUNTERS = {
    "requests": "nv_inference_request_success",
    "inferences": "nv_inference_count",
    "executions": "nv_inference_exec_count",
    "request_us": "nv_inference_request_duration_us",
    "queue_us": "nv_inference_queue_duration_us",
    "compute_input_us": "nv_inference_compute_input_duration_us",
    "compute_infer_us": "nv_inference_compute_infer_duration_us",
    "compute_output_us": "nv_inference_compute_output_duration_us",
}
_SAMPLE = re.compile(r'^(nv_inference_\w+)\{[^}]*model="([^"]+)"[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


def snapshot(metrics_url: str) -> dict[str, dict[str, float]]:
    """model -> counter name (keys of :data:`COUNTERS`) -> value, summed over versions."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    names = {metric: key for key, metric in COUNTERS.items()}
    totals: dict[str, dict[str, float]] = {}
    for metric, model, value in _SAMPLE.findall(text):
        if metric in names:
            model_totals = totals.setdefault(model, dict.fromkeys(COUNTERS, 0.0))
            model_totals[names[metric]] += float(value)
    return totals


def profile(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per model, over the interval between two snapshots: requests, average batch and milliseconds
    per request in each phase."""
    result = {}
    for model, end in after.items():
        start = before.get(model, dict.fromkeys(COUNTERS, 0.0))
        delta = {key: end[key] - start[key] for key in COUNTERS}
        requests = delta["requests"]
        if requests <= 0:
            continue
        result[model] = {
            "requests": int(requests),
            "average_batch": round(delta["inferences"] / delta["executions"], 2) if delta["executions"] else 0.0,
            **{
                key.replace("_us", "_ms"): round(delta[key] / requests / 1000, 3)
                for key in COUNTERS
                if key.endswith("_us")
            },
        }
    return result

"""Temperature scaling (Guo et al., 2017) and expected calibration error."""

import numpy as np
import torch


def fit_temperature(logits: np.ndarray, targets: np.ndarray, *, max_iter: int = 200) -> float:
    """The temperature that minimises the negative log-likelihood of ``targets`` (LBFGS on log T)."""
    logits_t = torch.as_tensor(logits, dtype=torch.float64)
    targets_t = torch.as_tensor(targets, dtype=torch.long)
    log_temperature = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits_t / log_temperature.exp(), targets_t)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_temperature.exp().item())


def reliability_bins(probabilities: np.ndarray, targets: np.ndarray, bins: int = 15) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin: count, mean confidence and accuracy of the top-1 prediction."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(index, weights=correct.astype(float), minlength=bins) / counts
    return {"edges": edges, "counts": counts, "confidence": mean_confidence, "accuracy": accuracy}


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over equal-width bins."""
    table = reliability_bins(probabilities, targets, bins)
    filled = table["counts"] > 0
    gaps = np.abs(table["confidence"][filled] - table["accuracy"][filled])
    return float((table["counts"][filled] * gaps).sum() / table["counts"].sum())


# A fitted temperature outside this range says more about the validation split (tiny, or a
# model that learnt nothing) than about calibration: it is not applied.
SANE_TEMPERATURES = (0.1, 10.0)


def negative_log_likelihood(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean NLL of ``targets`` under softmax(logits / temperature)."""
    logits_t = torch.as_tensor(logits, dtype=torch.float64) / temperature
    return float(torch.nn.functional.cross_entropy(logits_t, torch.as_tensor(targets, dtype=torch.long)))


def choose_temperature(logits: np.ndarray, targets: np.ndarray) -> dict:
    """Fit the temperature on validation logits and keep it only if it lowers the validation NLL and is sane.

    Returns ``temperature`` (what is applied: the fitted value, or 1.0), ``fitted``, ``kept``,
    ``reason`` and the validation NLL before and after.
    """
    fitted = fit_temperature(logits, targets)
    before = negative_log_likelihood(logits, targets)
    after = negative_log_likelihood(logits, targets, fitted)
    low, high = SANE_TEMPERATURES
    if fitted < low:
        reason = (
            f"fitted temperature {fitted:.3g} is below {low}: not applied (T = 1); the model is far less sure than "
            "it is right: train longer, or raise optimization.head_learning_rate"
        )
    elif fitted > high:
        reason = f"fitted temperature {fitted:.3g} is above {high}: not applied (T = 1)"
    elif after >= before:
        reason = (
            f"fitted temperature {fitted:.3g} does not lower the validation NLL ({before:.4f}): not applied (T = 1)"
        )
    else:
        reason = f"temperature {fitted:.3g} lowers the validation NLL from {before:.4f} to {after:.4f}"
    kept = reason.startswith("temperature")
    return {
        "temperature": fitted if kept else 1.0,
        "fitted": fitted,
        "kept": kept,
        "reason": reason,
        "validation_nll": {"before": before, "after": after if kept else before},
    }

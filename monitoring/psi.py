"""Population stability index (PSI) of observed counts against reference shares.

``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over the bins, with ``e`` the reference shares and
``a`` the observed shares. An empty bin on either side would make a term infinite, so every
share is floored at ``epsilon`` (default 1e-4, i.e. 0.01 %) and the shares are renormalised
to sum to 1 before the sum. Common reading: below 0.1 stable, 0.1 to 0.25 a moderate shift
worth a look, above 0.25 a significant shift.
"""

import math
from collections.abc import Sequence

DEFAULT_EPSILON = 1e-4


def _floored_shares(values: Sequence[float], epsilon: float) -> list[float]:
    """Shares of ``values``, each at least ``epsilon``, summing to 1."""
    total = float(sum(values))
    shares = [max(value / total if total else 0.0, epsilon) for value in values]
    norm = sum(shares)
    return [share / norm for share in shares]


def population_stability_index(
    reference_shares: Sequence[float], observed_counts: Sequence[float], epsilon: float = DEFAULT_EPSILON
) -> float:
    """PSI of ``observed_counts`` against ``reference_shares`` (same bins, same order); NaN without observations."""
    if len(reference_shares) != len(observed_counts):
        raise ValueError(f"{len(reference_shares)} reference bins but {len(observed_counts)} observed bins")
    if not reference_shares or sum(observed_counts) <= 0:
        return math.nan
    expected = _floored_shares(reference_shares, epsilon)
    actual = _floored_shares(observed_counts, epsilon)
    return sum((a - e) * math.log(a / e) for a, e in zip(actual, expected))


def drift_status(psi: float, warning: float = 0.1, alert: float = 0.25) -> int:
    """0 stable, 1 warning (PSI >= ``warning``), 2 alert (PSI >= ``alert``), -1 unknown (NaN)."""
    if math.isnan(psi):
        return -1
    return 2 if psi >= alert else 1 if psi >= warning else 0

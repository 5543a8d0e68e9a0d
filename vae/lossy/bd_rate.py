"""The Bjøntegaard delta rate: the average rate difference of two rate–distortion curves at equal quality.

Bjøntegaard (VCEG-M33, 2001): fit each curve's log-rate as a cubic
polynomial of its PSNR (least squares), integrate both fits over the PSNR
interval where the curves overlap, and turn the mean difference of the
logs into a percentage::

    BD-rate = exp( (1/(b - a)) ∫_a^b [log R_test(D) - log R_anchor(D)] dD ) - 1      (× 100 %)

Negative means the test curve needs fewer bits than the anchor at the same
PSNR: -50 % is half the rate. Each curve needs at least 4 points (a cubic).

Introduced in chapter 10.
"""

from __future__ import annotations

import numpy as np


def _cubic_of_log_rate(rate, psnr) -> np.poly1d:
    rate, psnr = np.asarray(rate, np.float64), np.asarray(psnr, np.float64)
    if rate.shape != psnr.shape or rate.ndim != 1 or len(rate) < 4:
        raise ValueError(f"a curve needs at least 4 (rate, PSNR) points of equal length, got {rate.shape} and "
                         f"{psnr.shape}")
    if np.any(~np.isfinite(rate)) or np.any(rate <= 0) or np.any(~np.isfinite(psnr)):
        raise ValueError("rates must be positive and finite, PSNRs finite")
    if len(np.unique(psnr)) < 4:
        raise ValueError("a curve needs at least 4 distinct PSNR values")
    return np.poly1d(np.polyfit(psnr, np.log(rate), 3))


def bd_rate(anchor_rate, anchor_psnr, test_rate, test_psnr) -> float:
    """Bjøntegaard delta rate of the test curve against the anchor, in percent.

    Args:
        anchor_rate, anchor_psnr: the reference curve (rates in any unit, e.g. bpp; PSNR in dB).
        test_rate, test_psnr: the curve being measured, rates in the same unit.

    Raises:
        ValueError: fewer than 4 points, non-positive rates, or curves whose PSNR ranges do not overlap.

    Introduced in chapter 10.
    """
    anchor = _cubic_of_log_rate(anchor_rate, anchor_psnr)
    test = _cubic_of_log_rate(test_rate, test_psnr)
    low = max(np.min(anchor_psnr), np.min(test_psnr))
    high = min(np.max(anchor_psnr), np.max(test_psnr))
    if not high > low:
        raise ValueError(f"the curves' PSNR ranges do not overlap (the overlap would be [{low:.2f}, {high:.2f}] dB)")
    anchor_integral, test_integral = np.polyint(anchor), np.polyint(test)
    mean_difference = ((test_integral(high) - test_integral(low)) - (anchor_integral(high) - anchor_integral(low))) \
        / (high - low)
    return float((np.exp(mean_difference) - 1) * 100)


def overlap(anchor_psnr, test_psnr) -> tuple[float, float]:
    """The PSNR interval (dB) over which :func:`bd_rate` compares the two curves. Introduced in chapter 10."""
    return float(max(np.min(anchor_psnr), np.min(test_psnr))), float(min(np.max(anchor_psnr), np.max(test_psnr)))

"""Exact message passing with moment matching (expectation propagation) for one match.

Messages on the factor graph p(s1) p(s2) N(t; s1 - s2 + h, perf_var) 1[y agrees with t]:

1. prior factors -> s1, s2: N(mu1, var1), N(mu2, var2);
2. difference factor -> t: N(mu1 - mu2 + h, var1 + var2 + perf_var)   (the cavity of t);
3. the marginal of t is the cavity times the outcome factor, a truncated Gaussian;
   moment matching replaces it by the Gaussian q(t) with the same mean and variance;
4. outcome factor -> t: q(t) / cavity(t)                               (Gaussian division);
5. difference factor -> s1: N(m_y - h + mu2, v_y + var2 + perf_var), and
   difference factor -> s2: N(mu1 + h - m_y, v_y + var1 + perf_var), where N(m_y, v_y)
   is the message of step 4 (integrating out t and the other player);
6. posterior of s_i = prior message x message of step 5.

Since step 4 can be improper in principle, step 5-6 are computed in the equivalent
form that needs no division: the posterior moments of s_i follow from those of t by
linear-Gaussian regression, E[s1] = mu1 + var1/V (E[t] - M), Var[s1] = var1 - var1^2/V^2 (V - Var[t]),
with (M, V) the cavity of t. The two forms are identical whenever the message is proper.
"""

from __future__ import annotations

from .gaussian import (Gaussian, margin_interval, performance_difference, truncated_gaussian_moments,
                       truncation_interval)


def moment_matching_update(p1: Gaussian, p2: Gaussian, outcome: int, perf_var: float, *, draw_margin: float = 0.0,
                           advantage: float = 0.0) -> tuple[Gaussian, Gaussian]:
    """Gaussian posteriors of both players after one match (outcome +1, -1, or 0 for a draw)."""
    lo, hi = truncation_interval(outcome, draw_margin)
    return interval_update(p1, p2, lo, hi, perf_var, advantage=advantage)


def margin_update(p1: Gaussian, p2: Gaussian, margin: int, perf_var: float, *, margin_width: float,
                  margin_cap: int | None = None, advantage: float = 0.0) -> tuple[Gaussian, Gaussian]:
    """Gaussian posteriors after a match won by `margin` (player 1's score minus player 2's).

    The ordered-probit margin model: the margin says t lies in `margin_interval(margin, ...)`,
    a doubly truncated Gaussian for every finite bin (a draw is |t| < margin_width / 2).
    """
    lo, hi = margin_interval(margin, margin_width, margin_cap)
    return interval_update(p1, p2, lo, hi, perf_var, advantage=advantage)


def interval_update(p1: Gaussian, p2: Gaussian, lower: float, upper: float, perf_var: float, *,
                    advantage: float = 0.0) -> tuple[Gaussian, Gaussian]:
    """Gaussian posteriors of both players given that t = s1 - s2 + h + noise fell in (lower, upper)."""
    cavity = performance_difference(p1, p2, perf_var, advantage)  # step 2
    t_mean, t_var = truncated_gaussian_moments(cavity.mean, cavity.var, lower, upper)  # step 3
    # steps 4-6 by linear-Gaussian regression of each skill on t: Cov(s1, t) = var1, Cov(s2, t) = -var2
    post1 = Gaussian(p1.mean + p1.var / cavity.var * (t_mean - cavity.mean),
                     p1.var - p1.var**2 / cavity.var**2 * (cavity.var - t_var))
    post2 = Gaussian(p2.mean - p2.var / cavity.var * (t_mean - cavity.mean),
                     p2.var - p2.var**2 / cavity.var**2 * (cavity.var - t_var))
    return post1, post2


def outcome_message(p1: Gaussian, p2: Gaussian, outcome: int, perf_var: float, *, draw_margin: float = 0.0,
                    advantage: float = 0.0) -> Gaussian:
    """Step 4: the message from the outcome factor to t, q(t) / cavity(t)."""
    cavity = performance_difference(p1, p2, perf_var, advantage)
    lo, hi = truncation_interval(outcome, draw_margin)
    q = Gaussian(*truncated_gaussian_moments(cavity.mean, cavity.var, lo, hi))
    return q / cavity


def moment_matching_update_by_messages(p1: Gaussian, p2: Gaussian, outcome: int, perf_var: float, *,
                                       draw_margin: float = 0.0, advantage: float = 0.0) -> tuple[Gaussian, Gaussian]:
    """Steps 4-6 literally (message division and products); equal to `moment_matching_update`."""
    msg = outcome_message(p1, p2, outcome, perf_var, draw_margin=draw_margin, advantage=advantage)
    to_s1 = Gaussian(msg.mean - advantage + p2.mean, msg.var + p2.var + perf_var)
    to_s2 = Gaussian(p1.mean + advantage - msg.mean, msg.var + p1.var + perf_var)
    return p1 * to_s1, p2 * to_s2

"""TrueSkill for two players: closed forms, Gibbs sampling, message passing and ADF."""

from .adf import ADFResult, adf
from .gaussian import (
    Gaussian,
    margin_interval,
    conditional_skills,
    conditional_t,
    outcome_probabilities,
    performance_difference,
    truncated_gaussian_moments,
    truncation_interval,
    win_probability,
)
from .gibbs import gaussian_from_samples, gibbs_sample
from .message_passing import (interval_update, margin_update, moment_matching_update,
                              moment_matching_update_by_messages, outcome_message)

__all__ = [
    "ADFResult", "adf", "Gaussian", "conditional_skills", "conditional_t", "outcome_probabilities",
    "performance_difference", "truncated_gaussian_moments", "truncation_interval", "win_probability",
    "gaussian_from_samples", "gibbs_sample", "moment_matching_update", "moment_matching_update_by_messages",
    "outcome_message", "interval_update", "margin_update", "margin_interval",
]

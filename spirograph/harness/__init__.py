"""The leaderboard harness: suites, probes, metrics, result files and the leaderboard.

Score any encoder with ``spirograph.score(encoder, suite="quick")``; the result serialises to the
JSON schema of SCHEMA.md and ``spirograph leaderboard`` ranks result files.
"""

from .encoders import EncoderError, load_encoder, reference_encoder
from .result import SCHEMA_VERSION, TASK_NAMES, ResultError, ScoreResult, validate_result
from .score import score
from .suites import Suite, available_suites, get_suite, register_suite, suite_versions

__all__ = [
    "EncoderError",
    "ResultError",
    "SCHEMA_VERSION",
    "ScoreResult",
    "Suite",
    "TASK_NAMES",
    "available_suites",
    "get_suite",
    "load_encoder",
    "reference_encoder",
    "register_suite",
    "score",
    "suite_versions",
    "validate_result",
]

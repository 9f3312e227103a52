"""The leaderboard harness: suites, probes, metrics, result files and the leaderboard."""

"""Scoring: window signals, the label-free risk, the supervised head, streaming and cron state."""

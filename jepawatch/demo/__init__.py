"""The demo: a generated web-service series with precursor-announced anomalies, trained and watched."""

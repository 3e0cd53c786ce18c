"""Run-time code of the sentiment function: artifacts, classifier, events (no torch)."""

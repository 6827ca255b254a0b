"""Beacon evaluation suite: run a dataset, score retrieval and grounding, write reports."""

"""Prefect flows over the stage tasks, and the `synthpipe` command line."""

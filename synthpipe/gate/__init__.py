"""The quality gate: expectations, fidelity, utility, privacy and detection measures, and the report."""

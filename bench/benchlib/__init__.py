"""bench/run's parts: the lab driver (lab), one measured ansible-playbook run (measure), the tools
compared (tools), the scenarios (scenarios), the run's context (context), the targets (targets), the
rows derived from the runs (summary) and their markdown (render); targets, summary and render are
pure functions that bench/report.py and the unit tests use without a lab."""

"""bench/run's parts: the lab driver (lab), one measured ansible-playbook run (measure), the tools
compared (tools), the scenarios (scenarios), the run's context (context) and the targets (targets,
pure functions that bench/report.py and the unit tests use without a lab)."""

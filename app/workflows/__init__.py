"""Workflows: missions described once and run again, by hand, on a schedule or on a trigger."""

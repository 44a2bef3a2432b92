"""Placeholder; filled in by its learner."""

"""Reusable test suites for extension authors (learner conformance)."""

"""Recommendations: rank items for users from their interactions (ratings, clicks, plays)."""

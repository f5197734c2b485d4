"""Wellness goals, progress entries and the team's replies."""

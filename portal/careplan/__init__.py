"""The shared care plan."""

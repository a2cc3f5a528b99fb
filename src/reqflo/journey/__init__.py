"""journey package."""

"""Command layer: one pydantic model and one handler function per command."""

"""Aggregates of the CoC domain; their nested classes are the stored event types."""

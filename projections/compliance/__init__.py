"""Compliance: a pure engine over facts and a policy version, and the service that feeds it."""

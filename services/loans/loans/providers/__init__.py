"""Async clients of systems outside the loans service."""

"""The event bus: envelope and catalogue, transactional outbox, relay, idempotent consumers.

Import models lazily (Django apps must be ready): ``from common.bus.outbox import outbox_add``.
"""

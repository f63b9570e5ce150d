"""The event bus: envelope and catalogue, transactional outbox, relay, idempotent consumers.

    envelope.py / catalogue.py   the wire contract shared by producers and consumers
    outbox.py                    outbox_add / command_add, inside the state change's transaction
    relay.py                     manage.py relay: outbox rows -> RabbitMQ (pika) and Celery (send_task)
    handlers.py                  @handles(event_type, consumer=...) registry, <app>.handlers discovery
    consumer.py                  manage.py consume: inbox + handler in one transaction, retry, DLQ
    topology.py / config.py      exchange and queue names and arguments, settings from the environment
    dead_letters.py              manage.py dead_letters list|replay

Import models lazily (Django apps must be ready): ``from common.bus.outbox import outbox_add``.
See docs/events.md.
"""

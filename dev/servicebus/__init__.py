"""A local Azure Service Bus endpoint (AMQP 1.0) for development, tests and the failover drill.

See docs/local-servicebus.md. Run ``python -m dev.servicebus --port 5672``.
"""

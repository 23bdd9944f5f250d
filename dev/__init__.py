"""Dev-only: never deployed (.funcignore excludes it; tests/infra checks it). The local stack, the
Service Bus endpoint, the TCP fault proxy, the two-region host and the failover drill."""

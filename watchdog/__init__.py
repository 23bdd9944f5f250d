"""watchdog package."""

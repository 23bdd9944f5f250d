"""queue_builder package."""

"""Dev-only adapters (never deployed): the folder stand-ins for IBM MQ and MessageWay, the file
consumption switch and the local Service Bus session consumer (the Functions host's trigger)."""

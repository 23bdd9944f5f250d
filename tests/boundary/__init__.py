"""The deploy boundary: what ships, what it may import, and that the rules fail when broken."""

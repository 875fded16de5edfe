"""The asyncio shells around the pure core: the master and secondary nodes."""

"""The pure core: synchronous state machines with no sockets, files, asyncio or clocks.

Only the standard library, `replog.types` and `replog.errors` may be imported here; a test
enforces it. The shells feed inputs (`propose`, `on_message`, `on_synced`, `tick`) and drain
outputs (`take_outputs`), like etcd/raft's Ready loop.
"""

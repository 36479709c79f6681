"""Translation of the compiled snapshot into Envoy's xDS resources (pure: no I/O, no asyncio).

Names are fixed in `names`; each resource family has its own module.
"""

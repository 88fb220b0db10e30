"""The HTTP service of CoC Ledger (aiohttp): commands in, entity histories out."""

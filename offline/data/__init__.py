"""Raw shop data -> the generic prepared folder (events.parquet, items.parquet, split.json).

Adapters (``online_retail``, ``generic``) are the only code that knows a source's quirks; everything
downstream reads the prepared folder through :mod:`offline.data.dataset`.
"""

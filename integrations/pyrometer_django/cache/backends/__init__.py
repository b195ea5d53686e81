"""``locmem``, ``filebased``, ``redis`` and ``memcached``: Django's caches counting gets, hits and misses."""

"""State that several workers and hosts share, on real servers (README "Deployment").

    conversations.py  conversations in Redis (`redis_url`), with the in-memory store's bounds
    redis_client.py   one client configuration: short timeouts, errors as HTTP 503

The review log on PostgreSQL is assistant/review/postgres.py; the rate limits' Redis storage is set
up in assistant/api/limits.py (the `limits` library's own).
"""

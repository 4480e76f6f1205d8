"""The standing attack suite: every hole an attack found, as a test that failed before its fix.

Each module attacks one surface (public lookups, key views, malformed input, the audit chain, the bitemporal
clock, outbound webhooks). Tests take ``db`` and so run on SQLite and PostgreSQL alike.
"""

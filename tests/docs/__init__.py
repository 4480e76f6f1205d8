"""Docs as tests: the examples, ``--help`` texts, settings, routes and benchmark table of the docs are checked
against the code (issue 16; docs/decisions/0800-docs-as-tests.md)."""

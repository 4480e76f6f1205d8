"""Screening: files, identifiers and names."""

"""socialcredit: a registry of adjudicated credit findings, joint measures, explained checks and due process."""

__version__ = "0.1.0"

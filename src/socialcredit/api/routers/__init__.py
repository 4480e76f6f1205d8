"""One router per audience or feature; ``create_app`` includes them (and ``feed`` when that module exists)."""

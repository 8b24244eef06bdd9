"""The turn grammar, defined once: decoding constraint, parser and renderer."""

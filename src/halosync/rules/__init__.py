"""Quantity rules (minimum, free quantity, ceiling, rounding, terms, price ownership,
exclusions): kept as dated versions, looked up by the usage sync (``rules.service``)."""

"""exec routes."""

ROUTES: list = []

"""images routes."""

ROUTES: list = []

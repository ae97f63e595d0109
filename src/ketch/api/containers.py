"""containers routes."""

ROUTES: list = []

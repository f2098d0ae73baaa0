"""The web side: the REST API (``web.api``) and, later, the UI."""

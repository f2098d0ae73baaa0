"""Feeding usage in: file import (CSV/JSON), the REST API payload, and plug-in sources."""

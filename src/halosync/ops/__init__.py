"""Operating halosync: readiness and doctor checks, database backups."""

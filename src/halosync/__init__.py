"""halosync: keeps HaloPSA billing in step with a vendor's usage data."""

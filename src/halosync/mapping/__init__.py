"""Account and service mappings (where future writes land in Halo)."""

"""Pure domain logic: no database, no HTTP, no clock reads (time is always passed in).

The sync engine, the jobs and the UI adapt their rows and Halo records into these types
and call the functions here, so every rule about what gets written to HaloPSA lives in
one place that is tested without any service running.
"""

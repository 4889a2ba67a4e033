"""Demo and test doubles of the services the provider talks to (never imported by the provider)."""

"""frontguard's canary: measure, on the real account, how long a new load balancer is open
before frontguard's SG is on it (docs/canary.md). ``owners`` builds the throw-away owner,
``probe`` runs and measures, reading AWS through ``observe`` and frontguard's alerts through
``alerts``; ``report`` renders, ``scheduled`` serves the scheduled run (.importlinter:
canary-layers)."""

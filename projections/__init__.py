"""Read models built from the event log, and compliance evaluation (grows with the policy and
read-model issues). Imports ``ledger`` only."""

"""Write model of CoC Ledger: events, aggregates, the event store application and settings."""

"""Read models fed from the event log: tables that follow the log exactly once per event."""

"""What every service truly shares: event contracts, bus and outbox plumbing, telemetry,
settings and the clock. No domain logic lives here."""

"""Duty points: each deputy's event-sourced ledger of points (履职积分)."""

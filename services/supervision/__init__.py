"""Supervision: follows every assigned task and case to close-out (督办)."""

"""Intake: citizen messages and deputy suggestions up to a registered, classified suggestion."""

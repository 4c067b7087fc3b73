"""The platform's services: intake, assignment, supervision, points, and the gateway."""

"""The notifications service: who must know about what happened, their inbox, and delivery
by e-mail and webhook (see README 'What the services do')."""

"""Messages to people: rendering from templates, the outbox, and delivery."""

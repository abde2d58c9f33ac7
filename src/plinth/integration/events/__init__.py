"""Events: the CloudEvents outbox, webhook subscriptions and their delivery."""

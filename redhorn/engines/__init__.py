"""Database engines: the async execution of compiled statements, one implementation per driver."""

"""Who is asking, and what they may read: API users, passwords, tokens, throttling, access rules."""

"""``typing.Protocol`` contracts between the application and the technologies behind it."""

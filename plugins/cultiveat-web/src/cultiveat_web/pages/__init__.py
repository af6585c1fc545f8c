"""Page handlers, one module per screen; ``ROUTES`` is what the plugin registers."""

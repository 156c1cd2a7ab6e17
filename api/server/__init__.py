"""The HTTP server: the app, its routes, and what requests do on the share."""

"""The web UI every node serves at `/`: static ES modules over the REST API, and the sign-in cookie.

The pages call the same /api/v1 routes as winsctl, so a browser sees and changes exactly what the
API lets its user see and change. Every asset ships in the package: no CDN, no build step.
"""

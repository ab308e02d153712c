"""The web application: Swedish pages rendered on the server, and the JSON API."""

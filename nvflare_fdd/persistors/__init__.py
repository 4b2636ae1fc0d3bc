"""Server-side NVFlare persistors."""

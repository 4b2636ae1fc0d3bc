"""Server-side NVFlare controllers."""

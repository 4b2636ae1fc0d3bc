"""Client-side NVFlare executors."""

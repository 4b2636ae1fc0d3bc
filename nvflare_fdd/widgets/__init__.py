"""Server-side NVFlare components that are neither controllers, persistors nor filters."""

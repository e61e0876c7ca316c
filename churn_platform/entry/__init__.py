"""Entry points that drive the platform: the demo, the weekly loop driver, the dev server."""

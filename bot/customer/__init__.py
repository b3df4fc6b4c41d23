"""The customer's self-service page (H5): its own aiohttp app on its own listener, so that
nothing of /api, /metrics or the WeCom callbacks is reachable there, and the page is not
reachable on the internal port."""

"""The ops console under /console/ on the internal listener: WeCom sign-in, the health board,
open tickets (docs/console.md)."""

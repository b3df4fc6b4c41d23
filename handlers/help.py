"""帮助: the command list, generated from every router's declarations."""

from __future__ import annotations

from handlers.registry import (
    ANYONE,
    CommandContext,
    CommandError,
    CommandRouter,
    command_help,
    command_table,
    render_help,
)

router = CommandRouter()


@router.command("帮助", "help", usage="帮助 [命令]", roles={ANYONE})
async def help_(ctx: CommandContext, args: list[str]) -> str:
    """列出您可用的命令; 「帮助 命令」查看某个命令的说明"""
    from handlers import ROUTERS  # the full list includes this module's own router

    listing = render_help(ROUTERS, ctx.policy.config, ctx.user)
    if not args:
        return listing
    spec = command_table(ROUTERS).get(args[0].lower())
    if spec is None or not spec.allowed(ctx.roles):
        raise CommandError(f"没有您可用的命令「{args[0]}」。\n{listing}")
    return command_help(spec)

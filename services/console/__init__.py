"""What the ops console reads and who may do what there; the pages themselves are bot.console."""

"""The `digitnet` commands, a module per part of the system; digitnet.cli builds the parser from them."""

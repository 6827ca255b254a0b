"""`python -m assistant.cli`: the same as the `beacon` command."""

from assistant.cli.main import main

main()

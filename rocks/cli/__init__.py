"""The `rocks` command line: registry, `key=value` parsing, dispatch, help, output, completion.

Commands themselves live in `rocks.commands`; this package only finds, parses, runs and renders.
"""

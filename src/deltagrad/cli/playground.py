"""``deltagrad playground``: start the playground's local web server and open the page.

Starlette and uvicorn are imported only when the server starts, so listing the commands does
not need them.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Train a network live in the browser: a local playground page.",
                  add_completion=False, pretty_exceptions_enable=False)


@app.callback(invoke_without_command=True)
def playground(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on. Keep 127.0.0.1 unless you mean to "
                                  "let other machines in."),
    # Checked by the server (one clear line for a bad port), not by typer.
    port: int = typer.Option(0, "--port", help="Port to listen on, 0 to 65535 (0: pick a free "
                                               "one)."),
    no_browser: bool = typer.Option(False, "--no-browser",
                                    help="Do not open the page in a web browser."),
) -> None:
    """Start the playground server and open its page: pick a data set, shape a network and
    watch deltagrad train it (Ctrl+C stops the server)."""
    try:  # optional packages, imported only to run the server: say how to install them
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"deltagrad playground needs starlette and uvicorn ({exc.name} is "
                          f"missing): pip install deltagrad[playground]") from None
    # The server imports starlette and uvicorn, checked just above.
    from ..playground.server import LOCAL_HOSTS, serve

    if host not in LOCAL_HOSTS and not host.startswith("127."):
        typer.echo(f"warning: listening on {host}: anyone who can reach this machine can use "
                   f"the playground", err=True)

    def ready(url: str) -> None:
        typer.echo(f"deltagrad playground: {url}  (Ctrl+C to stop)")

    serve(host, port, open_browser=not no_browser, on_ready=ready)

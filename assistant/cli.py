"""`assistant`: a thin command line over the library (index, search, ask, serve)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.errors import AssistantError
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.client import Backend

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Policy enquiry assistant.")
console = Console()
err_console = Console(stderr=True)

CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help="Corpus folder (env ASSISTANT_CORPUS_DIR).")]
IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index folder (env ASSISTANT_INDEX_DIR).")]


def _settings(corpus: Path | None, index: Path | None, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if corpus is not None:
        overrides["corpus_dir"] = corpus
    if index is not None:
        overrides["index_dir"] = index
    return Settings(**overrides)


def _fail(err: AssistantError) -> None:
    err_console.print(f"[red]error:[/red] {err}")
    raise typer.Exit(err.exit_code)


@app.command()
def index(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    rollback: Annotated[bool, typer.Option("--rollback", help="Restore the previous version.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything (e.g. new model).")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Check the live version against its checksums; "
                                                          "exit code 7 when damaged.")] = False,
    version: Annotated[str | None, typer.Option("--version", help="With --verify: the version to check.")] = None,
) -> None:
    """Bring the index up to date with the corpus folder (incremental, atomic)."""
    from assistant.indexing.service import rollback_index, run_index, verify_index

    settings = _settings(corpus, index)
    try:
        if verify:
            summary = verify_index(settings, version)
            if as_json:
                print(json.dumps(summary))
            else:
                console.print(f"index version [bold]{summary['version']}[/bold] is intact: "
                              f"{summary['checksummed_files']} checksummed files, {summary['chunks']} chunks, "
                              f"{summary['vectors']} vectors")
            return
        if rollback:
            version = rollback_index(settings)
            if as_json:
                print(json.dumps({"version": version, "rolled_back": True}))
            else:
                console.print(f"rolled back: live version is now [bold]{version}[/bold]")
            return
        if dry_run or as_json or not sys.stderr.isatty():
            report = run_index(settings, dry_run=dry_run, rebuild=rebuild)
        else:
            with Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=err_console, transient=True) as bar:
                tasks: dict[str, Any] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done, total=total)

                report = run_index(settings, dry_run=dry_run, rebuild=rebuild, progress=progress)
    except AssistantError as err:
        _fail(err)
        return
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        _print_report(report)
    if not dry_run and not report.usable:
        raise typer.Exit(2)


def _print_report(report: Any) -> None:
    title = "plan (dry run: nothing changed)" if report.dry_run else (
        f"published {report.version}" if report.published else f"no change: live version {report.version}")
    table = Table(title=title)
    for col in ("file", "action", "chunks", "seconds", "reason"):
        table.add_column(col)
    for f in report.files:
        table.add_row(f.source, f.action, str(f.chunks or ""), f"{f.seconds:.2f}" if f.seconds else "",
                      f.reason or "")
    console.print(table)
    summary = report.to_dict()["summary"]
    console.print(
        " ".join(f"{k}={v}" for k, v in summary.items())
        + f"  documents={report.documents} chunks={report.chunks} embedded={report.embedded}"
        + f"  seconds={report.seconds:.1f} (embedding {report.embed_seconds:.1f})"
    )
    if report.damaged:
        err_console.print(f"[yellow]warning:[/yellow] {report.damaged} (rebuilt without it)")
    if not report.dry_run and not report.usable:
        err_console.print("[red]error:[/red] nothing could be indexed; see the reasons above")


LocalOpt = Annotated[bool, typer.Option("--local", help="Answer in this process even when a server is up.")]


def _backend(settings: Settings, local: bool) -> Backend:
    """A running server serving this index (fast), else the assistant in this process (loads the model)."""
    from assistant.client import LocalBackend, backend, server_url

    found = backend(settings, local=local)
    if isinstance(found, LocalBackend) and not local:
        err_console.print(f"[dim]no server serving this index at {server_url(settings)}: loading the model here "
                          "(about 15 s); `assistant serve` in another shell answers each question at once[/dim]")
    return found


def _call(call: Any, *args: Any) -> Any:
    """Run a backend call; errors of either backend exit with their message (and code, in-process)."""
    from assistant.client import ServerError

    try:
        return call(*args)
    except AssistantError as err:
        _fail(err)
    except ServerError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None


def _print_answer(response: dict[str, Any]) -> None:
    console.print(response["answer"], markup=False, highlight=False)
    console.print()
    for c in response["citations"]:
        d = c["document"]
        line = " ".join(str(v) for v in (d.get("title"), d.get("doc_number"), d.get("issuer"), d.get("date")) if v)
        console.print(f"[{c['n']}] {line} — {c['locator']}", markup=False, highlight=False)


@app.command()
def search(
    query: str,
    k: Annotated[int, typer.Option("-k", help="Passages to return.")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    local: LocalOpt = False,
) -> None:
    """Show the passages the retriever finds for a query (through a running server when one is up)."""
    settings = _settings(corpus, index)
    found = _backend(settings, local)
    passages = _call(found.search, query, k)["passages"]
    if as_json:
        print(json.dumps({"passages": passages}, ensure_ascii=False, indent=1))
        return
    for p in passages:
        console.print(f"[bold][{p['n']}] {p['document']['title']}[/bold] {p['locator']}  score={p['score']:.3f}")
        console.print(p["text"], markup=False, highlight=False)
        console.print()


@app.command()
def ask(
    question: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    local: LocalOpt = False,
) -> None:
    """Answer a question with cited passages (through a running server when one is up)."""
    settings = _settings(corpus, index)
    found = _backend(settings, local)
    response = _call(found.ask, question)
    if as_json:
        print(json.dumps(response, ensure_ascii=False, indent=1))
        return
    _print_answer(response)


def _ask_in(found: Backend, question: str, conversation: str | None) -> dict[str, Any]:
    """A question of the chat; a conversation the server no longer knows (restarted, expired) starts anew."""
    from assistant.client import ServerError
    from assistant.errors import UnknownConversationError

    try:
        result: dict[str, Any] = found.ask(question, conversation)
    except (ServerError, UnknownConversationError) as err:
        if conversation is None or getattr(err, "status", None) != 404:
            raise
        err_console.print("[dim]the conversation expired: starting a new one[/dim]")
        result = found.ask(question, None)
    return result


@app.command()
def chat(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    local: LocalOpt = False,
) -> None:
    """Ask question after question (follow-ups keep their subject); the model loads once. An empty
    line, `exit` or Ctrl-D ends."""
    settings = _settings(corpus, index)
    found = _backend(settings, local)
    conversation: str | None = None
    err_console.print(f"[dim]answering through {found.where}; an empty line ends[/dim]")
    while True:
        try:
            question = input("问> ").strip()
        except EOFError:
            break
        if not question or question in ("exit", "quit"):
            break
        response = _call(_ask_in, found, question, conversation)
        conversation = response["conversation_id"]
        _print_answer(response)
        console.print("—" * 20, markup=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Do not index the corpus at start.")] = False,
) -> None:
    """Start the HTTP API and the Gradio chat (indexes the corpus first unless --no-index)."""
    import uvicorn

    from assistant.api.app import create_app
    from assistant.api.server import server_config
    from assistant.indexing.service import run_index

    settings = _settings(corpus, index, host=host, port=port)
    if not no_index:
        try:
            report = run_index(settings)
            console.print(f"index: version {report.version}, {report.documents} documents, {report.chunks} chunks")
        except AssistantError as err:
            err_console.print(f"[yellow]warning:[/yellow] index not updated: {err}")
    console.print(f"serving on http://{settings.host}:{settings.port}  (chat at /, API docs at /docs)")
    uvicorn.Server(server_config(create_app(settings), settings)).run()


review_log = typer.Typer(no_args_is_help=True, help="The review log on PostgreSQL (ASSISTANT_DATABASE_URL).")
app.add_typer(review_log, name="review-log")
UrlOpt = Annotated[str | None, typer.Option("--to", help="postgresql:// URL (default: ASSISTANT_DATABASE_URL).")]


def _database_url(url: str | None) -> str:
    url = url or Settings().database_url
    if not url:
        err_console.print("[red]error:[/red] no PostgreSQL database: set ASSISTANT_DATABASE_URL or pass --to")
        raise typer.Exit(2)
    return url


@review_log.command("upgrade")
def review_log_upgrade(to: UrlOpt = None) -> None:
    """Create the review log's tables, or upgrade an existing database in place (Alembic)."""
    from assistant.review.postgres import PostgresLog, head_revision

    try:
        log = PostgresLog(_database_url(to))
    except AssistantError as err:
        _fail(err)
    console.print(f"review log schema at revision {log.revision} (head {head_revision()})")
    log.close()


@review_log.command("copy")
def review_log_copy(
    source: Annotated[Path | None, typer.Argument(help="SQLite log (default: ASSISTANT_REVIEW_DB or "
                                                       "data/review.sqlite3).")] = None,
    to: UrlOpt = None,
) -> None:
    """Copy an existing SQLite review log, every row with its id, into an empty PostgreSQL one."""
    from assistant.review.postgres import PostgresLog, copy_sqlite

    path = source or Settings().review_db_path
    try:
        log = PostgresLog(_database_url(to))
        counts = copy_sqlite(path, log)
    except AssistantError as err:
        _fail(err)
    except (FileNotFoundError, ValueError) as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    table = Table("table", "rows copied")
    for name, n in counts.items():
        table.add_row(name, str(n))
    console.print(table)
    log.close()


if __name__ == "__main__":
    app()

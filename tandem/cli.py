"""The `tandem` command: a short front door to Tandem's management commands.

`tandem serve`, `tandem user create ...` and friends run the management command of the same
name; `tandem manage ...` reaches every Django management command.
"""

import ast
import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# The subcommands an operator meets first, in the order `tandem --help` lists them.
SUBCOMMANDS = {
    "serve": "Migrate and run the web server and worker (--demo: with demo data if empty).",
    "migrate": "Apply database migrations.",
    "demo": "Generate a realistic synthetic company (--seed N --people N --accounts N).",
    "import": "Import accounts, people, opportunities, touchpoints or users from CSV or XLSX.",
    "export": "Export accounts, people, opportunities or touchpoints to CSV or XLSX (--out FILE).",
    "user": "Create a user: user create --email E --role R [--team T] [--password P].",
    "token": "Create, list or revoke API tokens: token create --name N [--write-key].",
    "manage": "Run any Django management command (tandem manage help lists them).",
}


def _command_help(path: Path) -> str:
    """The first line of a management command's `help`, read without importing Django."""
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Command":
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and any(getattr(t, "id", None) == "help" for t in statement.targets)
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                ):
                    return statement.value.value.strip().splitlines()[0]
    return ""


def tandem_commands() -> dict[str, str]:
    """Management commands that Tandem's own apps provide, with their one-line help."""
    commands = {}
    for path in sorted(PACKAGE_DIR.glob("*/management/commands/*.py")):
        if not path.name.startswith("_"):
            commands[path.stem] = _command_help(path)
    return commands


def usage() -> str:
    extra = {name: help_text for name, help_text in tandem_commands().items() if name not in SUBCOMMANDS}
    width = max(len(name) for name in [*SUBCOMMANDS, *extra])
    lines = [
        "usage: tandem <command> [options]",
        "",
        "Tandem: marketing and sales on one system of record and one rulebook.",
        "",
        "Commands:",
    ]
    lines += [f"  {name.ljust(width)}  {text}" for name, text in SUBCOMMANDS.items()]
    lines += [f"  {name.ljust(width)}  {text}" for name, text in extra.items()]
    lines += [
        "",
        "Run `tandem <command> --help` for a command's options.",
        "Settings come from the environment: DATABASE_URL, REDIS_URL, TANDEM_DATA_DIR, ...",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tandem` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tandem.settings")

    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] == "--version":
        from importlib.metadata import version

        print(f"tandem {version('tandem')}")
        return 0

    from django.core.management import execute_from_command_line

    name, rest = args[0], args[1:]
    if name == "manage":
        # Django prints "tandem manage <command>" in its usage lines.
        execute_from_command_line(["tandem manage", *rest])
        return 0
    if name not in SUBCOMMANDS and name not in tandem_commands():
        print(f"tandem: unknown command '{name}'.\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    if not _command_installed(name):
        print(
            f"tandem: the '{name}' command is not available in this installation "
            f"(no management command named '{name}' is installed yet).",
            file=sys.stderr,
        )
        return 2
    execute_from_command_line(["tandem", name, *rest])
    return 0


def _command_installed(name: str) -> bool:
    import django
    from django.core.management import get_commands

    django.setup()
    return name in get_commands()


if __name__ == "__main__":
    sys.exit(main())
